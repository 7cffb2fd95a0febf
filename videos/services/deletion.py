"""Soft deletion: the row stays (with its results) but the video answers 410 from then on.

The files made from the original for playback (rendition, poster, thumbnails) go with the soft deletion: they can
be made again, and nobody may load them any more. The original stays until retention purges the row.
"""

import contextlib
import logging

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from audit.models import StorageOperationType
from audit.services import audit_record, storage_operation
from mediaplatform.service_errors import ServiceError
from mediaplatform.transactions import atomic_retrying_conflicts
from videos import media_store
from videos.media_store import MediaObjectMissing, MediaStoreError, MediaStoreUnavailable
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
    derived = video.derived_file_names()
    video.deleted_at = timezone.now()
    video.rendition.name = video.poster.name = video.thumbnails_sprite.name = ""
    video.thumbnails_index = {}
    video.playback_kind = ""
    video.save(
        update_fields=[
            "deleted_at",
            "rendition",
            "poster",
            "thumbnails_sprite",
            "thumbnails_index",
            "playback_kind",
            "updated_at",
        ]
    )
    audit_record(
        action="video.delete",
        obj=video,
        actor=actor,
        old_values={"deleted_at": None, "derived_files": derived},
        new_values={"deleted_at": video.deleted_at.isoformat()},
    )
    if derived:
        transaction.on_commit(lambda: video_derived_files_remove(names=derived, video_id=video.pk, actor=actor))
    return video


def video_derived_files_remove(*, names: list[str], video_id, actor: AbstractBaseUser | None = None) -> list[str]:
    """Remove stored files made from a video's original, each removal logged as a storage operation.

    Call after the commit that stopped referring to them. A store that cannot be reached fails the removals (each
    a failed storage operation; after the first the store is not asked again) and nothing is raised: no row names
    the files any more, so retention's orphan sweep removes them once the store answers. Returns the names that
    could not be removed.
    """
    left: list[str] = []
    unreachable = False
    for name in names:
        size = None
        if not unreachable:
            try:
                size = media_store.size(name)
            except MediaObjectMissing:
                continue  # already gone
            except MediaStoreError:
                pass  # the removal below fails the same way, and records it
        try:
            with storage_operation(
                operation=StorageOperationType.DELETE, path=name, video_id=video_id, size_bytes=size, actor=actor
            ):
                if unreachable:  # asking again would only wait out the same timeout
                    raise MediaStoreUnavailable("not tried: the store did not answer the first removal")
                media_store.delete(name)
        except (MediaStoreError, OSError) as exc:
            logger.warning("could not remove %s (retention's orphan sweep will): %s", name, exc)
            left.append(name)
            unreachable = unreachable or isinstance(exc, MediaStoreUnavailable)
    return left
