"""A video's page (the player with its boxes, the runs' stages, the actions) and the detections it plays."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from mediaplatform.api.fields import bounded_integer, column_integer_range
from processing.models import Detection, RecoveryStrategy
from processing.selectors import video_latest_job
from processing.selectors_dashboard import FRAMES_PER_CHUNK, detection_job_for_video, detections_packed, video_for_page
from processing.selectors_video_page import FAILURE_REASONS, STAGE_LABELS, recovery_advice_table, video_page_facts
from videos.models import Video
from videos.selectors_playback import playback_fields
from videos.services.workflow import video_allowed_actions

EXPORT_FORMATS = ["coco", "yolo", "mot"]
FRAME_INDEX_RANGE = column_integer_range(Detection, "frame_index")


def _video_or_404(request, video_id) -> Video:
    try:
        return video_for_page(user=request.user, video_id=video_id)
    except Video.DoesNotExist:
        raise Http404("No such video.")


@require_safe
@login_required
def video_page(request, video_id):
    """A video: the player with its boxes, the stage timeline, live progress, errors, the chart, the actions."""
    video = _video_or_404(request, video_id)
    job = video_latest_job(video=video)
    facts = video_page_facts(video=video, job=job)
    allowed = video_allowed_actions(video=video)
    if facts["failure"] and not facts["failure"]["retry"]:
        allowed.remove("retry")
    playback = playback_fields(video)
    return render(
        request,
        "video_detail.html",
        {
            "video": video,
            "job": job,
            "allowed_actions": allowed,
            "export_formats": EXPORT_FORMATS,
            "recovery_labels": dict(RecoveryStrategy.choices),
            "facts": facts,
            # The same words for a video that fails or is cancelled while its page is open.
            "page_words": {
                "failure_reasons": FAILURE_REASONS,
                "recovery_advice": recovery_advice_table(),
                "stage_labels": STAGE_LABELS,
            },
            "playback": playback["playback"],
            "poster_url": playback["poster_url"],
        },
    )


def _bad_request(message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": "invalid", "message": message, "details": {}}}, status=400)


@require_safe
@login_required
def video_detections(request, video_id):
    """Detections packed per frame for the player: `?start=<frame>&job=<run id>`; follow `next_frame`."""
    video = _video_or_404(request, video_id)
    start = bounded_integer(request.GET.get("start", "0"), FRAME_INDEX_RANGE)
    if start is None:
        return _bad_request(f"start must be a frame index (an integer from 0 to {FRAME_INDEX_RANGE[1]}).")
    try:
        job = detection_job_for_video(video=video, job_id=request.GET.get("job") or None)
    except ValidationError:
        return _bad_request("job must be a run id (a UUID).")
    if job is None:
        if request.GET.get("job"):
            raise Http404("No such run of this video.")
        return JsonResponse({"job_id": None, "start_frame": start, "next_frame": None, "classes": [], "frames": {}})
    return JsonResponse(detections_packed(job=job, start_frame=start, frame_limit=FRAMES_PER_CHUNK))
