"""Creating a video from an upload and handing it to the pipeline."""

import hashlib
import logging
import os
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from audit.models import StorageOperationType
from audit.services import audit_record, storage_operation
from mediaplatform.advisory_locks import AdvisoryLock, advisory_xact_lock
from mediaplatform.service_errors import ServiceError
from notifications.models import EventType
from videos import media_store
from videos.models import LIVE_STATES, Priority, Video
from videos.runs import video_runs
from videos.services.transitions import video_lock, video_transition
from videos.sniffing import sniff_file

logger = logging.getLogger(__name__)

# A media store that does not answer is usually back within seconds (a restart, a network blip).
STORAGE_RETRY_AFTER_SECONDS = 30


class VideoRejected(ServiceError):
    """An upload refused before anything was stored."""


def _admit_for_owner(owner: AbstractBaseUser) -> None:
    """Refuse a new video while its owner already has too many in the pipeline.

    Back-pressure rather than an unbounded queue: a burst of uploads answers 429 with Retry-After
    once the owner's videos not yet completed or failed reach VIDEO_MAX_IN_FLIGHT_PER_USER. The
    per-owner transaction lock makes the count and the insert atomic across concurrent uploads.
    """
    limit = settings.VIDEO_MAX_IN_FLIGHT_PER_USER
    if not limit:
        return
    advisory_xact_lock(AdvisoryLock.VIDEO_ADMISSION, owner.pk)
    in_flight = Video.objects.filter(owner=owner, workflow_state__in=LIVE_STATES, deleted_at__isnull=True).count()
    if in_flight >= limit:
        logger.warning("upload refused for user %s: %s videos already in flight", owner.pk, in_flight)
        raise VideoRejected(
            code="too_many_in_flight",
            message=f"You already have {in_flight} videos waiting or being processed (the limit is {limit}); "
            "try again when some have finished.",
            status_code=429,
            retry_after=settings.VIDEO_IN_FLIGHT_RETRY_AFTER_SECONDS,
        )


def clean_filename(name: str) -> str:
    """The client's file name reduced to a safe display name (no directories, no control characters)."""
    base = os.path.basename(name.replace("\\", "/"))
    base = "".join(ch for ch in unicodedata.normalize("NFC", base) if unicodedata.category(ch)[0] != "C")
    return base.strip()[:255] or "upload"


def _file_sha256(uploaded_file: UploadedFile) -> str:
    existing = getattr(uploaded_file, "sha256", None)
    if existing:
        return existing
    digest = hashlib.sha256()
    for chunk in uploaded_file.chunks():
        digest.update(chunk)
    return digest.hexdigest()


class LocalFileUpload(UploadedFile):
    """An upload whose bytes are complete in a local file of its own (a resumable upload's staged data), which
    storing it may move into the media store rather than copy."""

    def __init__(self, *, path: Path, name: str, size: int, sha256: str | None = None):
        super().__init__(file=open(path, "rb"), name=name, size=size)  # noqa: SIM115 - closed with the upload
        self._path = Path(path)
        if sha256:
            self.sha256 = sha256

    def temporary_file_path(self) -> str:
        return str(self._path)

    def close(self) -> None:
        self.file.close()


def _storage_unavailable() -> VideoRejected:
    return VideoRejected(
        code="storage_unavailable",
        message="The media store cannot be reached just now, so the file was not stored; try again shortly.",
        status_code=503,
        retry_after=STORAGE_RETRY_AFTER_SECONDS,
    )


def store_original(*, video: Video, uploaded_file: UploadedFile, filename: str, actor=None) -> str:
    """Put the upload's bytes in the media store under the video's name for them; returns that name.

    An upload already in a local file of its own (a multipart request's temporary file, a staged resumable
    upload, a download) is moved there: renamed on the same filesystem, streamed once in parts to the object
    store, so the web host never writes it a second time. Anything else is streamed from its file object.
    Neither way holds the file in memory. Raises media_store.MediaStoreError or OSError when storing fails.
    """
    stored_name = video.file.field.upload_to(video, filename)
    local_path = uploaded_file.temporary_file_path() if hasattr(uploaded_file, "temporary_file_path") else None
    with storage_operation(
        operation=StorageOperationType.UPLOAD,
        path=stored_name,
        video_id=video.pk,
        size_bytes=uploaded_file.size,
        actor=actor,
    ):
        if local_path and Path(local_path).is_file():
            media_store.store_file(source=Path(local_path), name=stored_name, content_type=video.mime_type)
        else:
            uploaded_file.seek(0)
            media_store.store_stream(stream=uploaded_file, name=stored_name, content_type=video.mime_type)
    return stored_name


def _validate_upload(uploaded_file: UploadedFile) -> str:
    if not uploaded_file.size:
        raise VideoRejected(code="empty_file", message="The uploaded file is empty.")
    if uploaded_file.size > settings.VIDEO_MAX_UPLOAD_BYTES:
        raise VideoRejected(
            code="file_too_large",
            message=f"The file is larger than the limit of {settings.VIDEO_MAX_UPLOAD_BYTES} bytes.",
            status_code=413,
        )
    mime_type = sniff_file(uploaded_file)
    if mime_type is None:
        raise VideoRejected(
            code="unsupported_media_type",
            message="The file is not a video container this platform reads "
            "(MP4, QuickTime, Matroska/WebM, AVI, MPEG, FLV, Ogg or ASF).",
            status_code=415,
        )
    return mime_type


def _first_run_priority(job_options: Any, *, default: str) -> str:
    """The video's priority is its first run's: the upload names it among the run options."""
    given = job_options.get("priority") if isinstance(job_options, Mapping) else getattr(job_options, "priority", None)
    return given if given in Priority.values else default


def video_create(
    *,
    owner: AbstractBaseUser,
    uploaded_file: UploadedFile,
    title: str = "",
    frame_step: int | None = None,
    job_options: Any = None,
    priority: str = Priority.NORMAL,
    enqueue: bool = True,
) -> Video:
    """Store an uploaded video and queue its processing.

    `job_options` are the first run's options as the run engine takes them (`videos.runs`): a mapping of
    their names, or the engine's own options object; by default the engine's, with `frame_step` if given.

    Raises VideoRejected, storing nothing, when the upload is not a video we can take or its owner
    already has VIDEO_MAX_IN_FLIGHT_PER_USER videos in the pipeline (429).
    """
    priority = _first_run_priority(job_options, default=priority)
    mime_type = _validate_upload(uploaded_file)
    filename = clean_filename(uploaded_file.name or "")
    file_hash = _file_sha256(uploaded_file)

    with transaction.atomic():
        _admit_for_owner(owner)
        video = Video.objects.create(
            owner=owner,
            title=(title or os.path.splitext(filename)[0])[:255],
            original_filename=filename,
            size_bytes=uploaded_file.size,
            file_hash=file_hash,
            mime_type=mime_type,
            priority=priority,
            current_stage="upload",
        )
        audit_record(
            action="video.create",
            obj=video,
            actor=owner,
            new_values={"title": video.title, "size_bytes": video.size_bytes, "file_hash": file_hash},
        )
        video_transition(
            video_id=video.pk,
            transition_name="start_upload",
            actor=owner,
            event_type=EventType.UPLOAD_STARTED,
            event_data={"title": video.title, "filename": filename, "size_bytes": uploaded_file.size},
        )

    try:
        stored_name = store_original(video=video, uploaded_file=uploaded_file, filename=filename, actor=owner)
    except (OSError, media_store.MediaStoreError) as exc:
        logger.exception("storing video %s failed", video.pk)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        video_transition(
            video_id=video.pk,
            transition_name="fail",
            actor=owner,
            reason=f"The file could not be stored: {reason}",
            event_type=EventType.PROCESSING_FAILED,
        )
        if isinstance(exc, media_store.MediaStoreUnavailable):
            raise _storage_unavailable() from exc
        raise

    options = job_options or ({"frame_step": frame_step} if frame_step else None)

    with transaction.atomic():
        locked = video_lock(video_id=video.pk)
        locked.file.name = stored_name
        locked.save(update_fields=["file", "updated_at"])
        video = video_transition(
            video_id=video.pk,
            transition_name="finish_upload",
            actor=owner,
            event_type=EventType.UPLOAD_COMPLETED,
            event_data={"file_hash": file_hash, "size_bytes": uploaded_file.size},
        )
        video_runs().start_first(video=video, options=options, actor=owner, enqueue=enqueue)
    logger.info("video %s stored (%s bytes, sha256 %s)", video.pk, video.size_bytes, file_hash)
    return video
