"""Retention: archive, delete and purge what has outlived its thresholds, freeing storage.

Work goes in batches; each batch locks its rows with SKIP LOCKED, so two
cleanups running at once split the work instead of colliding, and a row
another transaction holds is simply left for the next run. Files are removed
only after the transaction that deleted their rows has committed.

Stored media is reached through `videos.media_store` only, so the same rules run on the filesystem and on an
object store. A store that cannot be reached does not stop the run: each removal that could not happen is a
failed storage operation (after the first one the store is not asked again in this run, so the run does not
wait out a timeout per file), the database rules still apply, and the objects whose rows went are orphans that
a later run's sweep removes once the store answers again.
"""

import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from audit.models import StorageOperationType
from audit.services import audit_record_many, storage_operation
from notifications.services.delivery import outbox_events_past_retention
from processing.models import ProcessingErrorLog
from processing.services.annotated_video import annotated_video_bytes
from processing.services.playback import RENDITIONS_DIRECTORY as PLAYBACK_DIRECTORY
from processing.services.stored_media import referenced_media
from videos import media_store
from videos.media_store import MediaObjectMissing, MediaStoreError, MediaStoreUnavailable
from videos.models import LIVE_STATES, Video, WorkflowState
from videos.services.transitions import video_transition

logger = logging.getLogger(__name__)

BATCH_SIZE = 200
CLEANUP_ACTOR = "retention-cleanup"
ORPHAN_FOLDERS = ("videos", PLAYBACK_DIRECTORY)


@dataclass
class CleanupReport:
    dry_run: bool
    archived_videos: list[str] = field(default_factory=list)
    deleted_videos: dict[str, list[str]] = field(default_factory=dict)  # reason -> ids
    purged_notifications: int = 0
    purged_error_logs: int = 0
    orphan_files: list[str] = field(default_factory=list)  # storage names
    orphan_bytes: int = 0
    playback_files: int = 0  # renditions, posters and thumbnails of the deleted videos
    abandoned_uploads: int = 0
    bytes_freed: int = 0
    storage_failures: dict[str, str] = field(default_factory=dict)  # name (or folder) -> why
    store_unreachable: str = ""  # why, once the store failed to answer in this run

    def lines(self) -> list[str]:
        verb = "would" if self.dry_run else "did"
        lines = [f"archive completed videos: {len(self.archived_videos)} ({verb})"]
        for reason, ids in sorted(self.deleted_videos.items()):
            lines.append(f"delete {reason} videos: {len(ids)} ({verb})")
        lines += [
            f"purge sent notifications: {self.purged_notifications} ({verb})",
            f"purge error logs: {self.purged_error_logs} ({verb})",
            f"remove orphan files: {len(self.orphan_files)}, {self.orphan_bytes} bytes ({verb})",
            f"remove renditions, posters and thumbnails of deleted videos: {self.playback_files} ({verb})",
            f"remove abandoned chunked uploads: {self.abandoned_uploads}"
            + (" (not counted in a dry run)" if self.dry_run else " (did)"),
            f"bytes freed: {self.bytes_freed} ({self.bytes_freed / 1024**2:.1f} MiB) ({verb})",
            f"storage failures: {len(self.storage_failures)}",
        ]
        lines += [f"  {name}: {why}" for name, why in sorted(self.storage_failures.items())]
        return lines

    def store_failed(self, name: str, exc: Exception) -> None:
        self.storage_failures[name] = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, MediaStoreUnavailable) and not self.store_unreachable:
            self.store_unreachable = str(exc)
            logger.error("retention: the media store cannot be reached (%s); not asking it again in this run", exc)

    def check_store(self) -> None:
        """Raise at once, without asking the store, once it failed to answer in this run."""
        if self.store_unreachable:
            raise MediaStoreUnavailable("not tried: the store did not answer earlier in this run")


def _days_ago(days: float):
    return timezone.now() - timedelta(days=days)


def _epoch_now() -> float:
    return time.time()


def _stored_size(report: CleanupReport, name: str) -> int | None:
    """The object's size; None when it is not there or the store cannot say (recorded in the report)."""
    try:
        report.check_store()
        return media_store.size(name)
    except MediaObjectMissing:
        return None
    except MediaStoreError as exc:
        report.store_failed(name, exc)
        return None


def _video_files(video: Video) -> list[str]:
    """The stored names that belong to the video: its original and what was made from it for playback."""
    return ([video.file.name] if video.file else []) + video.derived_file_names()


def _remove_stored(
    report: CleanupReport, names: list[str], *, video_id=None, sizes: dict[str, int] | None = None
) -> None:
    """Remove each object, logged as a storage operation (a failed one when it could not go); counts bytes freed."""
    for name in names:
        size = (sizes or {}).get(name)
        if size is None:
            try:
                report.check_store()
                size = media_store.size(name)
            except MediaObjectMissing:
                continue  # already gone
            except MediaStoreError:
                size = None  # the removal below records why
        try:
            with storage_operation(
                operation=StorageOperationType.DELETE, path=name, video_id=video_id, size_bytes=size
            ):
                report.check_store()
                media_store.delete(name)
        except (MediaStoreError, OSError) as exc:
            report.store_failed(name, exc)
            logger.warning("retention: could not remove %s: %s", name, exc)
            continue
        report.bytes_freed += size or 0
        _remove_empty_playback_folder(name)


def _remove_empty_playback_folder(name: str) -> None:
    """On the filesystem, a video's playback folder (renditions/<xx>/<video id>/) goes with its last file."""
    path = media_store.filesystem_path(name)
    playback_root = media_store.filesystem_path(PLAYBACK_DIRECTORY)
    if path is not None and playback_root is not None and path.parent.parent.parent == playback_root:
        with contextlib.suppress(OSError):
            path.parent.rmdir()


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
                if report.dry_run:  # a real run counts what it did remove, after the commit
                    report.bytes_freed += sum(_stored_size(report, name) or 0 for name in files[str(video.pk)])
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
            transaction.on_commit(
                lambda files=files: [_remove_stored(report, names, video_id=v) for v, names in files.items()]
            )


def _purge(report: CleanupReport, queryset, attribute: str) -> None:
    while True:
        with transaction.atomic():
            batch = list(queryset.select_for_update(skip_locked=True).values_list("pk", flat=True)[:1000])
            if not batch:
                return
            setattr(report, attribute, getattr(report, attribute) + len(batch))
            queryset.model.objects.filter(pk__in=batch).delete()


def _orphan_files(report: CleanupReport) -> None:
    """Objects under the media folders that no row refers to, older than the grace period: counted, removed."""
    known = {reference.name for reference in referenced_media()}
    # An object younger than the grace period may belong to an upload or a render whose row is not committed yet.
    cutoff = _epoch_now() - settings.RETENTION_ORPHAN_GRACE_SECONDS
    for folder in ORPHAN_FOLDERS:
        try:
            report.check_store()
            # Listed first: removing a file may remove its folder, which a lazy walk would then trip over.
            listed = list(media_store.iter_stored(folder))
        except MediaStoreError as exc:
            report.store_failed(f"{folder}/", exc)
            if not report.dry_run:
                _record_failed_sweep(folder, exc)
            continue
        orphans = {item.name: item.size for item in listed if item.modified <= cutoff and item.name not in known}
        report.orphan_files += orphans
        report.orphan_bytes += sum(orphans.values())
        if report.dry_run:
            report.bytes_freed += sum(orphans.values())
        else:
            _remove_stored(report, list(orphans), sizes=orphans)


def _record_failed_sweep(folder: str, exc: Exception) -> None:
    """The storage log says that the sweep of a folder could not happen, and why."""
    with (
        contextlib.suppress(MediaStoreError),
        storage_operation(operation=StorageOperationType.DELETE, path=f"{folder}/ (orphan sweep)"),
    ):
        raise exc


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
