"""The media analysis API on top of the platform: an analysis is a video run through the pipeline.

`POST /api/media/analyze` only stores: the video (still `initializing`, no file yet) and its
MediaAnalysisRequest in one transaction, the download task sent once that commits. The download (the SSRF
checks, size and time limits of videos.services.url_import) runs in that task on the default queue; a download
that fails fails the analysis with its reason. The request row carries a token (`fetch_task_id`): only the task
holding the current token may finish the fetch, so a task the sweep sent again after one was lost, and the lost
one turning up late, never both store the media.
"""

import contextlib
import logging
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from audit.models import StorageOperationType
from audit.services import audit_record, storage_operation
from mediaplatform.service_errors import ServiceError
from notifications.models import EventType
from videos import media_store
from videos.models import AnalysisMediaType, MediaAnalysisRequest, Video, WorkflowState
from videos.runs import video_runs
from videos.services.creation import (
    VideoRejected,
    _admit_for_owner,
    _file_sha256,
    _validate_upload,
    clean_filename,
    store_original,
)
from videos.services.deletion import video_soft_delete
from videos.services.image_video import image_to_one_frame_video, sniff_image_mime_type
from videos.services.transitions import video_lock, video_transition
from videos.services.url_import import url_download

logger = logging.getLogger(__name__)

# The task that downloads an analysis's media, by name: videos never imports the processing app that defines it.
FETCH_TASK_NAME = "processing.tasks.fetch_analysis_media"
# After this many lost downloads, the sweep fails the analysis instead of sending it again.
MAX_FETCH_ATTEMPTS = 3

ANALYSABLE_MEDIA_TYPES = {AnalysisMediaType.VIDEO, AnalysisMediaType.IMAGE, AnalysisMediaType.UNKNOWN}
ESTIMATED_SECONDS = {AnalysisMediaType.VIDEO: 30, AnalysisMediaType.UNKNOWN: 30, AnalysisMediaType.IMAGE: 5}

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


def unsupported_media_type_message(media_type: str) -> str:
    supported = ", ".join(sorted(str(kind) for kind in ANALYSABLE_MEDIA_TYPES))
    return (
        f"{media_type} media cannot be analysed: this platform runs object detection, which needs pictures; "
        f"supported media types: {supported}."
    )


def _url_check(media_url: str) -> None:
    """The URL's form only (scheme, host, length): where it points is checked by the download, hop by hop."""
    parts = urlsplit(media_url)
    if len(media_url) > 2000 or parts.scheme not in ("http", "https") or not parts.hostname:
        raise AnalysisRefused(
            code="invalid_source_url", message="media_url must be an http or https URL with a host.", status_code=400
        )


def _fetch_send(*, analysis_id: uuid.UUID, token: str) -> None:
    current_app.send_task(FETCH_TASK_NAME, args=[str(analysis_id), token], task_id=token)


def media_analysis_create(
    *,
    owner: AbstractBaseUser,
    media_url: str,
    media_type: str,
    prompt: str = "",
    config: dict | None = None,
    options: dict | None = None,
    run_options: dict | None = None,
    prompt_classes: list[str] | None = None,
    unmatched_prompt_words: list[str] | None = None,
) -> Video:
    """Store the analysis (its video, still without media, and the request) and queue the media's download.

    `run_options` are the checked options of the first run (videos.runs options); the download task sent once
    this commits makes that run. Raises AnalysisRefused, storing nothing (429 when the owner has too many
    videos in the pipeline).
    """
    if media_type not in ANALYSABLE_MEDIA_TYPES:
        raise AnalysisRefused(code="unsupported_media_type", message=unsupported_media_type_message(media_type))
    _url_check(media_url)
    token = str(uuid.uuid4())
    try:
        with transaction.atomic():
            _admit_for_owner(owner)
            video = Video.objects.create(
                owner=owner, title=(prompt or "")[:255], source_url=media_url, current_stage="download"
            )
            request = MediaAnalysisRequest.objects.create(
                analysis_id=video.pk,
                video=video,
                owner=owner,
                prompt=prompt,
                requested_media_type=media_type,
                source_url=media_url,
                analysis_config=config or {},
                analysis_options=options or {},
                run_options=run_options or {},
                prompt_classes=prompt_classes or [],
                unmatched_prompt_words=unmatched_prompt_words or [],
                fetch_task_id=token,
                fetch_queued_at=timezone.now(),
                fetch_attempts=1,
            )
            audit_record(
                action="video.create",
                obj=video,
                actor=owner,
                new_values={"source_url": media_url, "media_type": media_type, "run_options": request.run_options},
            )
            # Robust: with the broker down the request is still stored and answered; the sweep sends it later.
            transaction.on_commit(lambda: _fetch_send(analysis_id=video.pk, token=token), robust=True)
    except VideoRejected as exc:
        raise AnalysisRefused(
            code=exc.code, message=exc.message, status_code=exc.status_code, retry_after=exc.retry_after
        )
    logger.info("analysis %s stored for %s, download queued", video.pk, owner.pk)
    return video


def _claim(*, analysis_id: uuid.UUID, token: str) -> MediaAnalysisRequest | None:
    """The request, its video moved to `uploading`, when this task holds the current token; None otherwise."""
    with transaction.atomic():
        try:
            video = video_lock(video_id=analysis_id)
        except Video.DoesNotExist:
            return None
        request = MediaAnalysisRequest.objects.select_for_update().get(analysis_id=analysis_id)
        if request.fetch_finished_at is not None or request.fetch_task_id != token:
            return None
        if video.deleted_at is not None or video.workflow_state not in (
            WorkflowState.INITIALIZING,
            WorkflowState.UPLOADING,  # an earlier attempt died during its download
        ):
            request.fetch_finished_at = timezone.now()
            request.save(update_fields=["fetch_finished_at"])
            return None
        if video.workflow_state == WorkflowState.INITIALIZING:
            video_transition(
                video_id=video.pk,
                transition_name="start_upload",
                actor=video.owner,
                event_type=EventType.UPLOAD_STARTED,
                event_data={"source_url": request.source_url},
            )
        return request


def _media_download(request: MediaAnalysisRequest) -> UploadedFile:
    with storage_operation(
        operation=StorageOperationType.DOWNLOAD, path=request.source_url, video_id=request.analysis_id
    ) as download:
        if request.requested_media_type == AnalysisMediaType.IMAGE:
            image = url_download(url=request.source_url, sniff=sniff_image_mime_type, served="an image")
            try:
                uploaded = image_to_one_frame_video(image)
            finally:
                image.close()
        else:
            uploaded = url_download(url=request.source_url)
        download.size_bytes = uploaded.size
    return uploaded


def _fail(*, request: MediaAnalysisRequest, token: str, reason: str) -> None:
    with transaction.atomic():
        video = video_lock(video_id=request.analysis_id)
        current = MediaAnalysisRequest.objects.select_for_update().get(pk=request.pk)
        if current.fetch_task_id != token or current.fetch_finished_at is not None:
            return
        current.fetch_finished_at = timezone.now()
        current.save(update_fields=["fetch_finished_at"])
        with contextlib.suppress(TransitionNotAllowed):
            video_transition(
                video_id=video.pk,
                transition_name="fail",
                actor_label="media-download",
                reason=reason,
                event_type=EventType.PROCESSING_FAILED,
            )
    logger.warning("analysis %s failed: %s", request.analysis_id, reason)


def _remove_stored(name: str, *, video_id, size_bytes: int | None) -> None:
    """Remove media stored by a fetch that lost its claim meanwhile (another fetch finished, or a delete)."""
    with storage_operation(operation=StorageOperationType.DELETE, path=name, video_id=video_id, size_bytes=size_bytes):
        media_store.delete(name)


def _store(*, request: MediaAnalysisRequest, token: str, uploaded: UploadedFile) -> None:
    """The downloaded media becomes the video's file and its first run is made, as for an upload."""
    mime_type = _validate_upload(uploaded)
    file_hash = _file_sha256(uploaded)
    path = urlsplit(request.source_url).path.rsplit("/", 1)[-1]
    filename = clean_filename(uploaded.name if request.requested_media_type == AnalysisMediaType.IMAGE else path)
    video = Video.objects.get(pk=request.analysis_id)
    video.mime_type = mime_type  # the stored name's extension comes from the sniffed container
    stored_name = store_original(video=video, uploaded_file=uploaded, filename=filename)
    with transaction.atomic():
        locked = video_lock(video_id=video.pk)
        current = MediaAnalysisRequest.objects.select_for_update().get(pk=request.pk)
        if current.fetch_task_id != token or current.fetch_finished_at is not None or locked.deleted_at is not None:
            transaction.on_commit(lambda: _remove_stored(stored_name, video_id=video.pk, size_bytes=uploaded.size))
            return
        locked.file.name = stored_name
        locked.mime_type = mime_type
        locked.original_filename = filename
        locked.size_bytes = uploaded.size
        locked.file_hash = file_hash
        locked.save(update_fields=["file", "mime_type", "original_filename", "size_bytes", "file_hash", "updated_at"])
        current.fetch_finished_at = timezone.now()
        current.save(update_fields=["fetch_finished_at"])
        video = video_transition(
            video_id=video.pk,
            transition_name="finish_upload",
            actor=locked.owner,
            event_type=EventType.UPLOAD_COMPLETED,
            event_data={"file_hash": file_hash, "size_bytes": uploaded.size},
        )
        video_runs().start_first(video=video, options=current.run_options or None, actor=locked.owner, enqueue=True)


def media_analysis_fetch(*, analysis_id: uuid.UUID | str, token: str) -> str:
    """Download the analysis's media and hand it to the pipeline, or fail the analysis with the reason.

    What happened, in a word: "stored", "failed" or "skipped" (another task holds the fetch, it is done, or the
    analysis was deleted).
    """
    request = _claim(analysis_id=uuid.UUID(str(analysis_id)), token=token)
    if request is None:
        return "skipped"
    try:
        uploaded = _media_download(request)
    except VideoRejected as exc:
        _fail(request=request, token=token, reason=exc.message)
        return "failed"
    try:
        _store(request=request, token=token, uploaded=uploaded)
    except VideoRejected as exc:
        _fail(request=request, token=token, reason=exc.message)
        return "failed"
    except media_store.MediaStoreUnavailable:
        # Not the analysis's fault: the fetch stays claimed, and the sweep sends it again after a while.
        logger.warning("analysis %s: the media store is out of reach; the fetch will be sent again", analysis_id)
        raise
    except (OSError, media_store.MediaStoreError) as exc:
        logger.exception("storing the media of analysis %s failed", request.analysis_id)
        _fail(request=request, token=token, reason=f"The file could not be stored: {exc.strerror or exc}")
        return "failed"
    finally:
        uploaded.close()
    logger.info("analysis %s: media stored (%s bytes)", request.analysis_id, uploaded.size)
    return "stored"


def media_analysis_fetches_requeue(*, now=None) -> list[str]:
    """Send again the downloads whose task was lost (queued long enough ago that it would have finished).

    A download is bounded by URL_IMPORT_TIMEOUT_SECONDS; one still unfinished a minute past that had its task
    lost (a broker restart, a worker killed). Each is given a new token, so the lost task, should it turn up,
    finds it no longer holds the fetch; after MAX_FETCH_ATTEMPTS the analysis fails instead. The analysis ids
    sent again or failed.
    """
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.URL_IMPORT_TIMEOUT_SECONDS + 60)
    handled = []
    candidates = MediaAnalysisRequest.objects.filter(
        fetch_finished_at__isnull=True, fetch_queued_at__lt=stale_before
    ).values_list("analysis_id", flat=True)[:200]
    for analysis_id in list(candidates):
        with transaction.atomic():
            try:
                video_lock(video_id=analysis_id)
            except Video.DoesNotExist:
                MediaAnalysisRequest.objects.filter(analysis_id=analysis_id).update(fetch_finished_at=now)
                continue
            request = MediaAnalysisRequest.objects.select_for_update().get(analysis_id=analysis_id)
            if request.fetch_finished_at is not None or request.fetch_queued_at >= stale_before:
                continue
            if request.fetch_attempts >= MAX_FETCH_ATTEMPTS:
                _fail(
                    request=request,
                    token=request.fetch_task_id,
                    reason=f"The media download was lost {request.fetch_attempts} times; it was not tried again.",
                )
            else:
                token = str(uuid.uuid4())
                request.fetch_task_id = token
                request.fetch_queued_at = now
                request.fetch_attempts += 1
                request.save(update_fields=["fetch_task_id", "fetch_queued_at", "fetch_attempts"])
                transaction.on_commit(
                    lambda analysis_id=analysis_id, token=token: _fetch_send(analysis_id=analysis_id, token=token),
                    robust=True,
                )
            handled.append(str(analysis_id))
    if handled:
        logger.warning("analysis downloads lost and handled again: %s", ", ".join(handled))
    return handled


def media_analysis_delete(*, analysis_id: uuid.UUID, actor: AbstractBaseUser) -> None:
    """Soft-delete the analysis's video; the request row keeps the deletion as the analysis's tombstone."""
    with transaction.atomic():
        video = video_soft_delete(video_id=analysis_id, actor=actor)
        MediaAnalysisRequest.objects.filter(analysis_id=analysis_id).update(deleted_at=video.deleted_at)


def analysis_tombstone(*, user: AbstractBaseUser, analysis_id: uuid.UUID) -> MediaAnalysisRequest | None:
    """The request of an analysis the user may see whose video is gone (soft-deleted or removed by retention)."""
    requests = MediaAnalysisRequest.objects.filter(analysis_id=analysis_id)
    if not user.is_staff:
        requests = requests.filter(owner=user)
    request = requests.select_related("video").first()
    if request is None:
        return None
    if request.video is None or request.video.deleted_at is not None or request.deleted_at is not None:
        return request
    return None
