"""Annotated video export: a run's boxes burned into its video as an MP4, rendered once per run and options.

A request either finds the render of the same run and options (queued, rendering or ready: nothing is drawn
again) or records a new one and queues it on the default queue after commit. The worker draws the file from a
local copy of the original into a scratch folder and puts it in the store next to the original (the filesystem
or the object store: videos.media_store), reporting progress as `annotated_video` events on the video's socket,
each written in the transaction that moves the render's row (the video's row lock first, through
processing.services.locking). A render's file goes when its row goes: with its run, or with its video when
retention purges it.
"""

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Sum
from django.db.models.signals import post_delete
from django.utils import timezone

from audit.models import StorageOperationType
from audit.services import audit_record, storage_operation
from mediaplatform.service_errors import ServiceError
from notifications.models import EventType
from notifications.services.events import event_emit
from processing.annotated_render import DrawnBox, RenderError, render_annotated_video
from processing.exports.common import ROW_CHUNK, job_class_names
from processing.models import (
    AnnotatedVideo,
    Detection,
    JobStatus,
    ProcessingJob,
    RenderStatus,
    annotated_video_path,
)
from processing.services.locking import LockedVideo, job_lock
from videos import media_store
from videos.models import Video

logger = logging.getLogger(__name__)

# Progress is written (and pushed) about every this many percent, so a long render costs a handful of events.
PROGRESS_STEP_PERCENT = 10
# A render whose row has not moved for this long lost its worker: asking again starts it over.
STALLED_AFTER = timedelta(minutes=10)
_BOX_FIELDS = ("frame_index", "class_id", "class_name", "confidence", "track_id", "x1", "y1", "x2", "y2")


class AnnotatedVideoRefused(ServiceError):
    default_code = "invalid"
    default_status_code = 400


class RenderAbandoned(Exception):
    """The render's row went (its run or video was deleted) while it was being drawn."""


@dataclass(frozen=True)
class AnnotatedVideoOptions:
    classes: tuple[str, ...] = ()
    min_confidence: float = 0.0
    trails: bool = False

    def as_dict(self) -> dict:
        return {"classes": list(self.classes), "min_confidence": self.min_confidence, "trails": self.trails}


def annotated_video_options(
    *, job: ProcessingJob, classes: list[str], min_confidence: float, trails: bool
) -> AnnotatedVideoOptions:
    """The options in one canonical form, so that equal requests hash alike; refuses classes the run cannot have."""
    known = set(job_class_names(job).values())
    unknown = sorted(set(classes) - known)
    if unknown:
        raise AnnotatedVideoRefused(
            f"Unknown class {unknown[0]!r}: the run's model has {', '.join(sorted(known)) or 'no classes'}.",
            details={"field": "classes", "unknown": unknown, "allowed": sorted(known)},
        )
    chosen = tuple(sorted(set(classes)))
    # Every known class chosen draws what no filter draws: one file for both.
    if known and set(chosen) >= known:
        chosen = ()
    tracked = trails and Detection.objects.filter(job=job, track_id__isnull=False).exists()
    return AnnotatedVideoOptions(classes=chosen, min_confidence=round(float(min_confidence), 4), trails=tracked)


def annotated_video_choices(*, job: ProcessingJob) -> dict:
    """What an options form offers for the run: its model's classes, and trails only when it has track ids."""
    return {
        "job_id": job.pk,
        "job_status": job.status,
        "classes": sorted(set(job_class_names(job).values())),
        "tracked": Detection.objects.filter(job=job, track_id__isnull=False).exists(),
    }


def annotated_video_options_hash(*, job: ProcessingJob, options: AnnotatedVideoOptions) -> str:
    # The run's finish time is part of the key: a run that is run again has new boxes, hence a new file.
    key = {**options.as_dict(), "run_finished_at": job.finished_at.isoformat() if job.finished_at else None}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def annotated_video_find(*, job: ProcessingJob, options: AnnotatedVideoOptions) -> AnnotatedVideo | None:
    key = annotated_video_options_hash(job=job, options=options)
    return AnnotatedVideo.objects.filter(job=job, options_hash=key).first()


def _event(*, video: Video, render: AnnotatedVideo) -> None:
    # Nested under its own key: the video page reads top-level progress fields as the run's own.
    event_emit(
        video=video,
        event_type=EventType.ANNOTATED_VIDEO,
        data={
            "annotated_video": {
                "id": str(render.pk),
                "job_id": str(render.job_id),
                "status": render.status,
                "progress_percentage": float(render.progress_percentage),
                "frames_done": render.frames_done,
                "frames_total": render.frames_total,
                "size_bytes": render.size_bytes,
                "error": render.error,
            }
        },
    )


def _stalled(render: AnnotatedVideo) -> bool:
    return render.updated_at < timezone.now() - STALLED_AFTER


def _needs_rendering(render: AnnotatedVideo) -> bool:
    if render.status == RenderStatus.FAILED:
        return True
    if render.status == RenderStatus.READY:
        try:
            return not (render.file and media_store.exists(render.file.name))
        except media_store.MediaStoreUnavailable:
            return False  # the store cannot say now: the render stands, rather than being drawn again blind
    return _stalled(render)


def annotated_video_request(
    *, job_id, options: AnnotatedVideoOptions, actor: AbstractBaseUser | None = None
) -> AnnotatedVideo:
    """The render of the run with these options: the existing one, or a new one queued once this commits.

    Raises AnnotatedVideoRefused (409) for a run that has not completed or a video without its file.
    """
    with transaction.atomic():
        locked = job_lock(job_id=job_id)
        job = locked.job(job_id)
        if job.status != JobStatus.COMPLETED:
            raise AnnotatedVideoRefused(
                f"Only a completed run can be drawn; this one is {job.status}.",
                code="conflict",
                status_code=409,
                details={"state": job.status},
            )
        if not locked.video.file:
            raise AnnotatedVideoRefused("The video's file is gone.", code="conflict", status_code=409)
        key = annotated_video_options_hash(job=job, options=options)
        render = AnnotatedVideo.objects.select_for_update().filter(job=job, options_hash=key).first()
        if render is not None and not _needs_rendering(render):
            return render
        if render is None:
            render = AnnotatedVideo.objects.create(
                job=job, options=options.as_dict(), options_hash=key, requested_by=actor
            )
        else:
            _reset(render, actor=actor)
        audit_record(
            action="annotated_video.request",
            obj=render,
            actor=actor,
            new_values={"job_id": str(job.pk), "options": options.as_dict()},
        )
        _event(video=locked.video, render=render)
        transaction.on_commit(lambda: _enqueue(render.pk))
    return render


def _reset(render: AnnotatedVideo, *, actor: AbstractBaseUser | None) -> None:
    stale = render.file.name if render.file else ""
    render.status, render.error, render.progress_percentage, render.frames_done = RenderStatus.QUEUED, "", 0, 0
    render.file, render.size_bytes, render.finished_at, render.requested_by = "", None, None, actor
    render.save()
    if stale:
        transaction.on_commit(lambda: _remove_file(stale, video_id=render.job.video_id))


def _enqueue(render_id) -> None:
    from processing.tasks import render_annotated_video as render_task

    render_task.delay(str(render_id))


def _lock_render(render_id) -> tuple[LockedVideo, AnnotatedVideo]:
    """The render's video and run locked (video first), then the render's row. Raises RenderAbandoned if gone."""
    job_id = AnnotatedVideo.objects.filter(pk=render_id).values_list("job_id", flat=True).first()
    try:
        if job_id is None:
            raise AnnotatedVideo.DoesNotExist
        locked = job_lock(job_id=job_id)
        return locked, AnnotatedVideo.objects.select_for_update().get(pk=render_id)
    except (ProcessingJob.DoesNotExist, AnnotatedVideo.DoesNotExist):
        raise RenderAbandoned(f"annotated video {render_id} is gone") from None


def _save_and_tell(render_id, **fields) -> AnnotatedVideo:
    with transaction.atomic():
        locked, render = _lock_render(render_id)
        for name, value in fields.items():
            setattr(render, name, value)
        render.save(update_fields=[*fields, "updated_at"])
        _event(video=locked.video, render=render)
    return render


def _boxes(render: AnnotatedVideo):
    options = render.options
    rows = Detection.objects.filter(job_id=render.job_id, confidence__gte=options.get("min_confidence", 0.0))
    if options.get("classes"):
        rows = rows.filter(class_name__in=options["classes"])
    for row in rows.order_by("frame_index", "id").values_list(*_BOX_FIELDS).iterator(chunk_size=ROW_CHUNK):
        yield DrawnBox(*row)


def annotated_video_render(*, render_id) -> AnnotatedVideo | None:
    """Draw the render's file (the worker's task); a failure is recorded on the render and told, not raised."""
    with transaction.atomic():
        try:
            locked, render = _lock_render(render_id)
        except RenderAbandoned:
            return None
        # Finished, or another worker is drawing it (the task sent twice): only a stalled drawing is taken over.
        taken_over = render.status == RenderStatus.RENDERING and _stalled(render)
        if render.status != RenderStatus.QUEUED and not taken_over:
            return render
        render.status, render.frames_total = RenderStatus.RENDERING, locked.video.frame_count
        render.save(update_fields=["status", "frames_total", "updated_at"])
        _event(video=locked.video, render=render)
        video = locked.video
    name = annotated_video_path(render, "")
    reported = [0]

    def progress(frames_done: int, frames_total: int | None) -> None:
        total = frames_total or render.frames_total
        percentage = min(99, int(frames_done * 100 / total)) if total else 0
        if percentage - reported[0] < PROGRESS_STEP_PERCENT:
            return
        reported[0] = percentage
        _save_and_tell(render_id, progress_percentage=Decimal(percentage), frames_done=frames_done, frames_total=total)

    try:
        # A scratch folder per attempt: a worker taking over a stalled drawing never writes into the other's file.
        with media_store.local_copy(video.file.name) as source, media_store.scratch_folder() as scratch:
            partial = scratch / Path(name).name
            result = render_annotated_video(
                source_path=source,
                output_path=partial,
                boxes=_boxes(render),
                trails=render.options.get("trails", False),
                on_progress=progress,
            )
            size = partial.stat().st_size
            with storage_operation(
                operation=StorageOperationType.UPLOAD, path=name, video_id=video.pk, size_bytes=size
            ):
                media_store.store_file(source=partial, name=name, content_type="video/mp4")
    except RenderAbandoned:
        return None
    except Exception as exc:  # recorded on the render for the person who asked; the worker stays up
        logger.exception("annotated video %s failed", render_id)
        if isinstance(exc, RenderError):
            message = str(exc)
        elif isinstance(exc, media_store.MediaObjectMissing):
            message = "The original file is missing from storage."
        else:
            message = f"{type(exc).__name__}: {exc}"
        try:
            return _save_and_tell(
                render_id, status=RenderStatus.FAILED, error=message[:2000], finished_at=timezone.now()
            )
        except RenderAbandoned:
            return None
    try:
        render = _save_and_tell(
            render_id,
            status=RenderStatus.READY,
            file=name,
            size_bytes=size,
            frames_done=result.frames,
            frames_total=result.frames,
            progress_percentage=Decimal(100),
            finished_at=timezone.now(),
        )
    except RenderAbandoned:
        _remove_file(name, video_id=video.pk)
        return None
    logger.info("annotated video %s ready: %s frames, %s bytes", render_id, result.frames, size)
    return render


def annotated_video_open(*, render: AnnotatedVideo, actor: AbstractBaseUser | None):
    """The ready render's file, opened for reading (streamed from the object store); the access is logged.

    Raises OSError (media_store.MediaObjectMissing) when it is missing, media_store.MediaStoreUnavailable when
    the store cannot be reached."""
    with storage_operation(
        operation=StorageOperationType.ACCESS,
        path=render.file.name,
        video_id=render.job.video_id,
        size_bytes=render.size_bytes,
        actor=actor,
    ):
        return media_store.open_for_reading(render.file.name)


def annotated_video_download_url(*, render: AnnotatedVideo, actor: AbstractBaseUser | None) -> str | None:
    """A short-lived URL of the object store that the browser downloads the ready render from (named as a
    download), the access logged; None on the filesystem, where the file is served through the application.

    The caller has checked that `actor` may have it. Signing asks nothing of the store: a file gone from it
    shows as the store's 404 at the URL."""
    if not media_store.uses_object_store():
        return None
    with storage_operation(
        operation=StorageOperationType.ACCESS,
        path=render.file.name,
        video_id=render.job.video_id,
        size_bytes=render.size_bytes,
        actor=actor,
    ):
        return media_store.presigned_url(
            render.file.name, download_name=annotated_video_download_name(render), content_type="video/mp4"
        )


def annotated_video_download_name(render: AnnotatedVideo) -> str:
    """What the downloaded file is called (the HTTP view names it the same on both backends)."""
    return f"run-{render.job_id}-annotated.mp4"


def annotated_video_bytes(*, video_id) -> int:
    """What the video's rendered files take on disk (retention counts them; they go with their rows)."""
    rows = AnnotatedVideo.objects.filter(job__video_id=video_id).exclude(file="")
    return rows.aggregate(total=Sum("size_bytes"))["total"] or 0


def annotated_video_file_names() -> set[str]:
    """Every rendered file's storage name, so retention's orphan sweep leaves them alone."""
    return set(AnnotatedVideo.objects.exclude(file="").values_list("file", flat=True))


def _remove_file(name: str, *, video_id) -> None:
    try:
        size = media_store.size(name)
    except media_store.MediaObjectMissing:
        return  # removed already (retention removes a purged video's files itself)
    except media_store.MediaStoreError:
        logger.exception("could not remove %s", name)  # retention's orphan sweep finds it later
        return
    try:
        with storage_operation(operation=StorageOperationType.DELETE, path=name, video_id=video_id, size_bytes=size):
            media_store.delete(name)
    except (OSError, media_store.MediaStoreError):
        logger.exception("could not remove %s", name)


def _file_follows_its_row(sender, instance: AnnotatedVideo, **kwargs) -> None:
    # However the row goes (its run deleted in the admin, its video purged), its file goes after the commit.
    if instance.file:
        name = instance.file.name
        video_id = ProcessingJob.objects.filter(pk=instance.job_id).values_list("video_id", flat=True).first()
        transaction.on_commit(lambda: _remove_file(name, video_id=video_id))


def annotated_video_signals_connect() -> None:
    post_delete.connect(_file_follows_its_row, sender=AnnotatedVideo, dispatch_uid="annotated_video_file")
