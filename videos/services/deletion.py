"""Soft deletion: the row stays (with its results) but the video answers 410 from then on."""

import contextlib
import logging

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from audit.services import audit_record
from mediaplatform.service_errors import ServiceError
from mediaplatform.transactions import atomic_retrying_conflicts
from videos.models import Video
from videos.services.transitions import video_lock
from videos.services.workflow import WorkflowRefused, video_cancel

logger = logging.getLogger(__name__)


class VideoAlreadyDeleted(ServiceError):
    default_code = "gone"
    default_status_code = 410

    def __init__(self, message: str = "This video was already deleted."):
        super().__init__(message)


def video_soft_delete(*, video_id, actor: AbstractBaseUser | None = None) -> Video:
    """Mark the video deleted, stopping its active runs first (they end cancelled).

    Raises VideoAlreadyDeleted (changing nothing) for a video deleted before.
    """
    video = _soft_delete(video_id=video_id, actor=actor)
    logger.info("video %s soft-deleted by %s", video.pk, getattr(actor, "pk", None))
    return video


@atomic_retrying_conflicts
def _soft_delete(*, video_id, actor: AbstractBaseUser | None) -> Video:
    video = video_lock(video_id=video_id)
    if video.deleted_at is not None:
        raise VideoAlreadyDeleted()
    with contextlib.suppress(WorkflowRefused):
        video_cancel(video_id=video.pk, actor=actor)
    video = video_lock(video_id=video_id)
    video.deleted_at = timezone.now()
    video.save(update_fields=["deleted_at", "updated_at"])
    audit_record(
        action="video.delete",
        obj=video,
        actor=actor,
        old_values={"deleted_at": None},
        new_values={"deleted_at": video.deleted_at.isoformat()},
    )
    return video
