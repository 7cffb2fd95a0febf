"""The media analysis API on top of the platform: an analysis is a video run through the pipeline."""

import logging

from django.contrib.auth.models import AbstractBaseUser

from mediaplatform.service_errors import ServiceError
from videos.models import AnalysisMediaType, MediaAnalysisRequest, Video, WorkflowState
from videos.services.creation import VideoRejected
from videos.services.url_import import video_import_from_url

logger = logging.getLogger(__name__)

ANALYSABLE_MEDIA_TYPES = {AnalysisMediaType.VIDEO, AnalysisMediaType.UNKNOWN}
ESTIMATED_SECONDS = {AnalysisMediaType.VIDEO: 30, AnalysisMediaType.UNKNOWN: 30}

# The media analysis API's status values for the platform's workflow states.
STATUS_FOR_STATE = {
    WorkflowState.INITIALIZING: "pending",
    WorkflowState.UPLOADING: "pending",
    WorkflowState.UPLOADED: "pending",
    WorkflowState.VALIDATING: "pending",
    WorkflowState.PROCESSING: "processing",
    WorkflowState.COMPLETED: "completed",
    WorkflowState.ARCHIVED: "completed",
    WorkflowState.FAILED: "failed",
}
STATES_FOR_STATUS = {
    status: [state for state, mapped in STATUS_FOR_STATE.items() if mapped == status]
    for status in ("pending", "processing", "completed", "failed")
}


class AnalysisRefused(ServiceError):
    default_status_code = 422


def analysis_status(video: Video) -> str:
    if video.deleted_at is not None:
        return "deleted"
    return STATUS_FOR_STATE.get(video.workflow_state, "pending")


def estimate_processing_time(*, media_type: str, video: Video | None = None) -> int:
    """Seconds until a result is likely: from the clip's frame count when known, else a per-type figure."""
    if video is not None and video.frame_count:
        return max(5, int(video.frame_count / 25) + 5)
    return ESTIMATED_SECONDS.get(media_type, 30)


def media_analysis_create(
    *,
    owner: AbstractBaseUser,
    media_url: str,
    media_type: str,
    prompt: str = "",
    config: dict | None = None,
    options: dict | None = None,
) -> Video:
    """Fetch the media and queue it through the pipeline. Raises AnalysisRefused, storing nothing."""
    if media_type not in ANALYSABLE_MEDIA_TYPES:
        raise AnalysisRefused(
            code="unsupported_media_type",
            message=f"This platform analyses video; {media_type} media cannot be analysed.",
        )
    try:
        video = video_import_from_url(owner=owner, source_url=media_url, title=(prompt or "")[:255])
    except VideoRejected as exc:
        # The media analysis API answers an unusable request with 422 (400 is kept for a refused URL, 429 for
        # back-pressure).
        raise AnalysisRefused(
            code=exc.code,
            message=exc.message,
            status_code=exc.status_code if exc.status_code in (400, 429) else 422,
            retry_after=exc.retry_after,
        )
    MediaAnalysisRequest.objects.create(
        video=video,
        prompt=prompt,
        requested_media_type=media_type,
        analysis_config=config or {},
        analysis_options=options or {},
    )
    logger.info("analysis %s queued for %s", video.pk, owner.pk)
    return video
