"""Retention: archive, delete and purge what has outlived its thresholds, freeing disk.

Work goes in batches; each batch locks its rows with SKIP LOCKED, so two
cleanups running at once split the work instead of colliding, and a row
another transaction holds is simply left for the next run. Files are removed
only after the transaction that deleted their rows has committed.
"""

import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from audit.models import StorageOperationType
from audit.services import audit_record_many, storage_operation
from notifications.services.delivery import outbox_events_past_retention
from processing.models import ProcessingErrorLog
from processing.services.annotated_video import annotated_video_bytes, annotated_video_file_names
from processing.services.playback import RENDITIONS_DIRECTORY as PLAYBACK_DIRECTORY
from videos.models import LIVE_STATES, Video, WorkflowState
from videos.services.transitions import video_transition

logger = logging.getLogger(__name__)

BATCH_SIZE = 200
CLEANUP_ACTOR = "retention-cleanup"


@dataclass
class CleanupReport:
    dry_run: bool
    archived_videos: list[str] = field(default_factory=list)
    deleted_videos: dict[str, list[str]] = field(default_factory=dict)  # reason -> ids
    purged_notifications: int = 0
    purged_error_logs: int = 0
    orphan_files: list[str] = field(default_factory=list)
    playback_files: int = 0  # renditions, posters and thumbnails of the deleted videos
    abandoned_uploads: int = 0
    bytes_freed: int = 0

    def lines(self) -> list[str]:
        verb = "would" if self.dry_run else "did"
        lines = [f"archive completed videos: {len(self.archived_videos)} ({verb})"]
        for reason, ids in sorted(self.deleted_videos.items()):
            lines.append(f"delete {reason} videos: {len(ids)} ({verb})")
        lines += [
            f"purge sent notifications: {self.purged_notifications} ({verb})",
            f"purge error logs: {self.purged_error_logs} ({verb})",
            f"remove orphan files: {len(self.orphan_files)} ({verb})",
            f"remove renditions, posters and thumbnails of deleted videos: {self.playback_files} ({verb})",
            f"remove abandoned chunked uploads: {self.abandoned_uploads}"
            + (" (not counted in a dry run)" if self.dry_run else " (did)"),
            f"bytes freed: {self.bytes_freed} ({self.bytes_freed / 1024**2:.1f} MiB) ({verb})",
        ]
        return lines


def _days_ago(days: float):
    return timezone.now() - timedelta(days=days)


def _file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _video_files(video: Video) -> list[str]:
    """Every file on disk that belongs to the video: its stored original and what was made from it for playback."""
    media_root = Path(settings.MEDIA_ROOT)
    return ([video.file.path] if video.file else []) + [str(media_root / name) for name in video.derived_file_names()]


def _remove_files(paths: list[str], *, video_id=None) -> None:
    for path in paths:
        size = _file_size(path)
        try:
            with storage_operation(
                operation=StorageOperationType.DELETE, path=path, video_id=video_id, size_bytes=size
            ):
                Path(path).unlink(missing_ok=True)
        except OSError:
            logger.exception("could not remove %s", path)
            continue
        _remove_empty_playback_folder(Path(path).parent)


def _remove_empty_playback_folder(folder: Path) -> None:
    """A video's playback folder (renditions/<xx>/<video id>/) goes with its last file."""
    if folder.parent.parent == Path(settings.MEDIA_ROOT) / PLAYBACK_DIRECTORY:
        with contextlib.suppress(OSError):
            folder.rmdir()


def _archive_completed(report: CleanupReport) -> None:
    cutoff = _days_ago(settings.RETENTION_ARCHIVE_COMPLETED_DAYS)
    candidates = Video.objects.filter(workflow_state=WorkflowState.COMPLETED, updated_at__lt=cutoff)
    while True:
        with transaction.atomic():
            batch = list(
                candidates.exclude(pk__in=report.archived_videos)
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)[:BATCH_SIZE]
            )
            if not batch:
                return
            for video_id in batch:
                if not report.dry_run:
                    try:
                        video_transition(
                            video_id=video_id,
                            transition_name="archive",
                            actor_label=CLEANUP_ACTOR,
                            reason=f"completed more than {settings.RETENTION_ARCHIVE_COMPLETED_DAYS} days ago",
                        )
                    except TransitionNotAllowed:
                        continue
                report.archived_videos.append(str(video_id))


def _delete_videos(report: CleanupReport, *, reason: str, candidates) -> None:
    ids = report.deleted_videos.setdefault(reason, [])
    while True:
        files: dict[str, list[str]] = {}
        with transaction.atomic():
            batch = list(candidates.exclude(pk__in=ids).select_for_update(skip_locked=True)[:BATCH_SIZE])
            if not batch:
                return
            for video in batch:
                files[str(video.pk)] = _video_files(video)
                report.playback_files += len(video.derived_file_names())
                report.bytes_freed += sum(_file_size(path) for path in files[str(video.pk)])
                report.bytes_freed += annotated_video_bytes(video_id=video.pk)  # removed as their rows go
                ids.append(str(video.pk))
            if report.dry_run:
                continue
            audit_record_many(
                action="video.delete",
                object_type="videos.Video",
                changes=[
                    (
                        video.pk,
                        {"workflow_state": video.workflow_state, "title": video.title, "file": video.file.name},
                        {},
                    )
                    for video in batch
                ],
                actor_label=CLEANUP_ACTOR,
                reason=f"retention: {reason}",
            )
            Video.objects.filter(pk__in=[video.pk for video in batch]).delete()
            transaction.on_commit(lambda files=files: [_remove_files(p, video_id=v) for v, p in files.items()])


def _purge(report: CleanupReport, queryset, attribute: str) -> None:
    while True:
        with transaction.atomic():
            batch = list(queryset.select_for_update(skip_locked=True).values_list("pk", flat=True)[:1000])
            if not batch:
                return
            setattr(report, attribute, getattr(report, attribute) + len(batch))
            queryset.model.objects.filter(pk__in=batch).delete()


def _stored_names() -> set[str]:
    """The name of every file a video row refers to: originals, renditions, posters and thumbnails."""
    names = set()
    for row in Video.objects.values_list("file", "rendition", "poster", "thumbnails_sprite"):
        names.update(name for name in row if name)
    return names


def _orphan_files(report: CleanupReport) -> None:
    media_root = Path(settings.MEDIA_ROOT)
    roots = [media_root / "videos", media_root / PLAYBACK_DIRECTORY]
    known = _stored_names() | annotated_video_file_names()
    grace = time.time() - settings.RETENTION_ORPHAN_GRACE_SECONDS
    # Listed first: removing a file may remove its folder, which a lazy walk would then trip over.
    paths = [path for root in roots if root.is_dir() for path in root.rglob("*")]
    for path in paths:
        # A file younger than the grace period may belong to an upload still being committed.
        try:
            if not path.is_file() or path.stat().st_mtime > grace:
                continue
        except OSError:
            continue  # gone meanwhile
        if str(path.relative_to(media_root)) in known:
            continue
        report.orphan_files.append(str(path))
        report.bytes_freed += _file_size(str(path))
        if not report.dry_run:
            _remove_files([str(path)])


def retention_cleanup(*, dry_run: bool = False) -> CleanupReport:
    """Apply every retention rule once; returns what was (or, in a dry run, would be) removed."""
    report = CleanupReport(dry_run=dry_run)
    _archive_completed(report)
    _delete_videos(
        report,
        reason=f"failed more than {settings.RETENTION_DELETE_FAILED_DAYS} days ago",
        candidates=Video.objects.filter(
            workflow_state=WorkflowState.FAILED, updated_at__lt=_days_ago(settings.RETENTION_DELETE_FAILED_DAYS)
        ),
    )
    _delete_videos(
        report,
        reason="past their expiry date",
        candidates=Video.objects.filter(expiry_date__lt=timezone.now()).exclude(workflow_state__in=LIVE_STATES),
    )
    _delete_videos(
        report,
        reason=f"deleted more than {settings.RETENTION_PURGE_DELETED_DAYS} days ago",
        candidates=Video.objects.filter(deleted_at__lt=_days_ago(settings.RETENTION_PURGE_DELETED_DAYS)),
    )
    notifications = outbox_events_past_retention()
    error_logs = ProcessingErrorLog.objects.filter(created_at__lt=_days_ago(settings.RETENTION_PURGE_ERROR_LOGS_DAYS))
    if dry_run:
        report.purged_notifications = notifications.count()
        report.purged_error_logs = error_logs.count()
    else:
        _purge(report, notifications, "purged_notifications")
        _purge(report, error_logs, "purged_error_logs")
    _orphan_files(report)
    if not dry_run:
        from videos.services.chunked_upload import chunked_upload_sweep

        report.abandoned_uploads = chunked_upload_sweep()
        logger.info("retention cleanup: %s", "; ".join(report.lines()))
    return report


def audit_cleanup_run(report: CleanupReport) -> None:
    """A summary row for the run itself, so the trail says when cleanup ran and what it removed."""
    audit_record_many(
        action="retention.cleanup",
        object_type="retention",
        changes=[("run", {}, {"summary": report.lines()})],
        actor_label=CLEANUP_ACTOR,
    )
