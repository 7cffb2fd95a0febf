"""Reads of videos and their results, scoped to what a user may see."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, F, OuterRef, Prefetch, QuerySet, Subquery

from processing.models import Detection, ProcessingErrorLog, ProcessingJob
from videos.models import Video, VideoStateTransition

LATEST_ERRORS_SHOWN = 5


def video_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Video]:
    """The user's own videos, newest first, without soft-deleted ones."""
    return Video.objects.filter(owner=user, deleted_at__isnull=True).order_by("-created_at")


def video_get_for_user(*, user: AbstractBaseUser, video_id) -> Video:
    """A video the user may see (their own; any for staff). Raises Video.DoesNotExist otherwise."""
    queryset = Video.objects.filter(deleted_at__isnull=True)
    if not user.is_staff:
        queryset = queryset.filter(owner=user)
    latest_jobs = Prefetch(
        "jobs",
        queryset=ProcessingJob.objects.order_by("-created_at").prefetch_related("stages"),
        to_attr="jobs_latest_first",
    )
    timeline = Prefetch("state_transitions", queryset=VideoStateTransition.objects.order_by("id"), to_attr="timeline")
    latest_errors = Prefetch(
        "errors",
        queryset=ProcessingErrorLog.objects.order_by("-created_at")[:LATEST_ERRORS_SHOWN],
        to_attr="latest_errors",
    )
    return queryset.prefetch_related(latest_jobs, timeline, latest_errors).get(pk=video_id)


def video_visibility(*, user: AbstractBaseUser, video_id) -> str | None:
    """ "live" or "deleted" for a video the user may see (deleted ones included); None otherwise.

    Another user's video reads as None, exactly like one that never existed.
    """
    queryset = Video.objects.filter(pk=video_id)
    if not user.is_staff:
        queryset = queryset.filter(owner=user)
    row = queryset.values_list("deleted_at", flat=True)
    if not row:
        return None
    return "deleted" if row[0] is not None else "live"


def video_latest_job(*, video: Video) -> ProcessingJob | None:
    jobs = getattr(video, "jobs_latest_first", None)
    if jobs is not None:
        return jobs[0] if jobs else None
    return video.jobs.order_by("-created_at").first()


def video_result_job(*, video: Video) -> ProcessingJob | None:
    """The run whose detections stand for the video: its ground truth, else the latest completed, else the latest."""
    jobs = video.jobs.all()
    return (
        jobs.filter(is_ground_truth=True).first()
        or jobs.filter(status="completed").order_by("-finished_at").first()
        or jobs.order_by("-created_at").first()
    )


def detection_list_for_video(*, video: Video) -> QuerySet[Detection]:
    """Detections of the run that stands for the video, in frame order."""
    job = video_result_job(video=video)
    if job is None:
        return Detection.objects.none()
    return Detection.objects.filter(job=job).order_by("frame_index", "id")


def user_can_watch_video(*, user: AbstractBaseUser, video_id) -> bool | None:
    """True/False for an existing video; None when there is no such video."""
    owner_id = Video.objects.filter(pk=video_id, deleted_at__isnull=True).values_list("owner_id", flat=True).first()
    if owner_id is None:
        return None
    return bool(user.is_staff or owner_id == user.pk)


def video_stats(*, user: AbstractBaseUser, created_from, created_to) -> dict:
    """The dashboard figures of seeds/000 section 4.2 over videos created in [from, to): own videos, all for staff."""
    from django.db.models import Avg, Count, Max, Q, Sum

    from videos.models import WorkflowState

    queryset = Video.objects.filter(deleted_at__isnull=True, created_at__gte=created_from, created_at__lt=created_to)
    if not user.is_staff:
        queryset = queryset.filter(owner=user)
    per_state = {state: Count("id", filter=Q(workflow_state=state)) for state in WorkflowState.values}
    row = queryset.aggregate(
        total_videos=Count("id"),
        avg_processing_time=Avg("total_processing_seconds", filter=Q(total_processing_seconds__gt=0)),
        total_objects_detected=Sum("objects_detected_count"),
        last_updated=Max("updated_at"),
        **{f"state_{state}": expression for state, expression in per_state.items()},
    )
    return {
        "from": created_from,
        "to": created_to,
        "total_videos": row["total_videos"],
        "videos_per_state": {state: row[f"state_{state}"] for state in WorkflowState.values},
        "avg_processing_time_seconds": row["avg_processing_time"],
        "total_objects_detected": row["total_objects_detected"] or 0,
        "last_updated": row["last_updated"],
    }


def analysis_history(
    *,
    user: AbstractBaseUser,
    status: str | None = None,
    media_type: str | None = None,
    date_from=None,
    date_to=None,
    sort_by: str = "created_at",
    descending: bool = True,
) -> QuerySet[Video]:
    """The analyses (videos) of GET /api/media/history: own ones (all for staff), filtered and ordered.

    `status` is a seeds/003 status; "deleted" lists the soft-deleted ones, every other value live ones only.
    """
    from videos.services.media_analysis import STATES_FOR_STATUS

    videos = Video.objects.all() if user.is_staff else Video.objects.filter(owner=user)
    if status == "deleted":
        videos = videos.filter(deleted_at__isnull=False)
    else:
        videos = videos.filter(deleted_at__isnull=True)
        if status:
            videos = videos.filter(workflow_state__in=STATES_FOR_STATUS[status])
    if media_type not in (None, "video"):
        videos = videos.none()  # every analysis this platform runs is a video
    if date_from:
        videos = videos.filter(created_at__gte=date_from)
    if date_to:
        videos = videos.filter(created_at__lte=date_to)
    direction = "-" if descending else ""
    return videos.order_by(f"{direction}{sort_by}", f"{direction}id")


def analysis_history_page(*, analyses: QuerySet[Video], start: int, stop: int) -> list[dict]:
    """One page of analyses as rows, each with its latest completed run's finish time, in one query."""
    latest_completion = Subquery(
        ProcessingJob.objects.filter(video=OuterRef("pk"), status="completed")
        .order_by(F("finished_at").desc(nulls_last=True))
        .values("finished_at")[:1]
    )
    rows = analyses.annotate(completed_at=latest_completion).values(
        "id", "workflow_state", "deleted_at", "created_at", "completed_at", "analysis_request__prompt"
    )
    return list(rows[start:stop])


def analysis_result(*, video: Video, completed: bool) -> tuple[datetime | None, dict | None]:
    """When a completed analysis finished and what it found (top classes); (None, None) otherwise."""
    if not completed:
        return None, None
    job = video_result_job(video=video)
    if job is None:
        return None, None
    classes = dict(
        Detection.objects.filter(job=job)
        .values_list("class_name")
        .annotate(n=Count("id"))
        .order_by("-n", "class_name")[:20]
    )
    summary = {
        "summary": f"{video.objects_detected_count} objects detected",
        "objects_detected": video.objects_detected_count,
        "classes": classes,
        "topics": list(classes),
        "duration_seconds": video.duration_seconds,
    }
    return (job.finished_at if job.status == "completed" else None), summary
