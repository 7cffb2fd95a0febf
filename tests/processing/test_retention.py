"""Retention cleanup against real rows and real files."""

import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from audit.models import AuditLogEntry, StorageOperation
from notifications.models import OutboxEvent
from processing.models import ProcessingErrorLog
from processing.services.retention import retention_cleanup
from tests.factories import ProcessingJobFactory, VideoFactory
from videos.models import Video

DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def own_media_root(settings, tmp_path):
    """Files of other tests (their rows rolled back, their files not) would be this test's orphans."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()


def stored_video(settings, *, state: str, age_days: float, size: int = 1000, **fields) -> Video:
    video = VideoFactory(workflow_state=state, **fields)
    name = f"videos/{video.pk.hex[:2]}/{video.pk}.mp4"
    path = Path(settings.MEDIA_ROOT) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    Video.objects.filter(pk=video.pk).update(file=name, updated_at=timezone.now() - age_days * DAY)
    return Video.objects.get(pk=video.pk)


@pytest.fixture
def estate(settings):
    """A bit of everything the rules look at, old and new."""
    now = timezone.now()
    old_completed = stored_video(settings, state="completed", age_days=100)
    new_completed = stored_video(settings, state="completed", age_days=10)
    old_failed = stored_video(settings, state="failed", age_days=40, size=5000)
    new_failed = stored_video(settings, state="failed", age_days=5)
    expired = stored_video(settings, state="completed", age_days=1, size=7000, expiry_date=now - DAY)
    live_expired = stored_video(settings, state="processing", age_days=1, expiry_date=now - DAY)
    deleted = stored_video(settings, state="completed", age_days=1, size=3000, deleted_at=now - 10 * DAY)
    job = ProcessingJobFactory(video=new_completed)
    old_error = ProcessingErrorLog.objects.create(
        video=new_completed, job=job, stage="inference", error_type="timeout", message="x", recovery_strategy="retry"
    )
    ProcessingErrorLog.objects.filter(pk=old_error.pk).update(created_at=now - 200 * DAY)
    ProcessingErrorLog.objects.create(
        video=new_completed, job=job, stage="inference", error_type="timeout", message="y", recovery_strategy="retry"
    )
    for seq, (status, age_days) in enumerate([("sent", 10), ("sent", 1), ("pending", 10)], start=1):
        event = OutboxEvent.objects.create(
            video=new_completed,
            seq=seq,
            event_type="processing_progress",
            payload={},
            status=status,
            sent_at=now - age_days * DAY if status == "sent" else None,
        )
        OutboxEvent.objects.filter(pk=event.pk).update(created_at=now - age_days * DAY)
    orphan = Path(settings.MEDIA_ROOT) / "videos" / "zz" / "orphan.mp4"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"\0" * 2000)
    two_hours_ago = time.time() - 7200
    os.utime(orphan, (two_hours_ago, two_hours_ago))
    fresh_orphan = orphan.with_name("uploading.mp4")
    fresh_orphan.write_bytes(b"\0" * 10)
    return {
        "old_completed": old_completed,
        "new_completed": new_completed,
        "old_failed": old_failed,
        "new_failed": new_failed,
        "expired": expired,
        "live_expired": live_expired,
        "deleted": deleted,
        "orphan": orphan,
        "fresh_orphan": fresh_orphan,
    }


@pytest.mark.django_db
def test_cleanup_applies_every_rule_and_frees_the_disk(estate, django_capture_on_commit_callbacks):
    gone_files = [Path(estate[name].file.path) for name in ("old_failed", "expired", "deleted")]

    # Files go after commit; inside the test's transaction the hooks are run here.
    with django_capture_on_commit_callbacks(execute=True):
        report = retention_cleanup()

    assert report.archived_videos == [str(estate["old_completed"].pk)]
    assert Video.objects.get(pk=estate["old_completed"].pk).workflow_state == "archived"
    deleted_ids = {vid for ids in report.deleted_videos.values() for vid in ids}
    assert deleted_ids == {str(estate[name].pk) for name in ("old_failed", "expired", "deleted")}
    assert not Video.objects.filter(pk__in=deleted_ids).exists()
    assert (
        Video.objects.filter(pk__in=[estate[n].pk for n in ("new_completed", "new_failed", "live_expired")]).count()
        == 3
    )
    assert not any(path.exists() for path in gone_files)
    assert not estate["orphan"].exists() and estate["fresh_orphan"].exists()
    assert report.bytes_freed == 5000 + 7000 + 3000 + 2000
    assert (report.purged_notifications, report.purged_error_logs) == (1, 1)
    assert OutboxEvent.objects.filter(video=estate["new_completed"]).count() == 2
    assert ProcessingErrorLog.objects.count() == 1
    assert AuditLogEntry.objects.filter(action="video.delete").count() == 3
    assert (
        AuditLogEntry.objects.get(action="video.transition", object_id=str(estate["old_completed"].pk)).actor_label
        == "retention-cleanup"
    )
    assert StorageOperation.objects.filter(operation="delete", success=True).count() == 4


@pytest.mark.django_db
def test_dry_run_reports_the_same_and_changes_nothing(estate, capsys):
    call_command("cleanup", "--dry-run")

    out = capsys.readouterr().out
    assert "archive completed videos: 1 (would)" in out
    assert "purge sent notifications: 1 (would)" in out
    assert "remove orphan files: 1, 2000 bytes (would)" in out
    assert f"bytes freed: {5000 + 7000 + 3000 + 2000}" in out
    assert Video.objects.count() == 7
    assert estate["orphan"].exists() and Path(estate["old_failed"].file.path).exists()
    assert not AuditLogEntry.objects.filter(action__in=["video.delete", "video.transition"]).exists()


@pytest.mark.django_db(transaction=True)
def test_two_cleanups_at_once_split_the_work(estate):
    reports = []

    def run():
        try:
            reports.append(retention_cleanup())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    deleted = [vid for report in reports for ids in report.deleted_videos.values() for vid in ids]
    archived = [vid for report in reports for vid in report.archived_videos]
    assert sorted(deleted) == sorted({str(estate[n].pk) for n in ("old_failed", "expired", "deleted")})
    assert archived == [str(estate["old_completed"].pk)]
    assert AuditLogEntry.objects.filter(action="video.delete").count() == 3
    assert Video.objects.count() == 4
