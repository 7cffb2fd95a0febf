"""Retention and deletion with media in a real S3-compatible store (moto's server), reachable or not."""

import io
import os
import time
import uuid
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.models import StorageOperation
from notifications.models import OutboxEvent
from processing.services import retention
from processing.services.retention import retention_cleanup
from tests.factories import VideoFactory
from videos import media_store
from videos.models import Video
from videos.services.deletion import video_soft_delete

DAY = timedelta(days=1)
GRACE = 3600


@pytest.fixture
def bucket(s3_media, settings):
    """The object store, under a prefix of this test's own (the session's bucket is shared)."""
    storages = s3_media.storages_setting()
    storages["default"]["OPTIONS"]["location"] = f"retention-{uuid.uuid4().hex[:10]}"
    settings.STORAGES = storages
    settings.RETENTION_ORPHAN_GRACE_SECONDS = GRACE
    return s3_media


def put(name: str, size: int) -> None:
    media_store.store_stream(stream=io.BytesIO(os.urandom(size)), name=name)


def video_in_store(*, state: str, age_days: float = 1, size: int = 1000, playback: bool = False, **fields) -> Video:
    video = VideoFactory(workflow_state=state, **fields)
    names = {"file": f"videos/{video.pk.hex[:2]}/{video.pk}.mp4"}
    if playback:
        folder = f"renditions/{video.pk.hex[:2]}/{video.pk}"
        names |= {"rendition": f"{folder}/k.mp4", "poster": f"{folder}/k-poster.jpg"}
    put(names["file"], size)
    for extra, name in enumerate(list(names.values())[1:], start=1):
        put(name, 100 * extra)
    Video.objects.filter(pk=video.pk).update(**names, updated_at=timezone.now() - age_days * DAY)
    return Video.objects.get(pk=video.pk)


def stored_names() -> set[str]:
    return {item.name for folder in ("videos", "renditions") for item in media_store.iter_stored(folder)}


@pytest.fixture
def estate(bucket, monkeypatch):
    """Expired, failed and kept videos, an old orphan and a fresh one; the clock puts the grace between the two."""
    now = timezone.now()
    estate = {
        "expired": video_in_store(state="completed", size=7000, playback=True, expiry_date=now - DAY),
        "old_failed": video_in_store(state="failed", age_days=40, size=5000),
        "kept": video_in_store(state="completed", size=300, playback=True),
    }
    put("videos/zz/orphan.mp4", 2000)
    old = {item.name: item.modified for item in media_store.iter_stored("videos/zz")}["videos/zz/orphan.mp4"]
    while time.time() < old + 1.05:  # the store's times have whole seconds: the fresh one lands in a later one
        time.sleep(0.05)
    put("renditions/ab/gone/fresh.mp4", 10)
    monkeypatch.setattr(retention, "_epoch_now", lambda: old + GRACE + 0.5)
    return estate


@pytest.mark.django_db(transaction=True)  # objects go once their batch commits, as in production
def test_cleanup_deletes_expired_videos_objects_and_old_orphans(estate):
    expired, old_failed = estate["expired"], estate["old_failed"]
    gone = {expired.file.name, *expired.derived_file_names(), old_failed.file.name}

    report = retention_cleanup()

    assert {vid for ids in report.deleted_videos.values() for vid in ids} == {str(expired.pk), str(old_failed.pk)}
    assert report.orphan_files == ["videos/zz/orphan.mp4"] and report.orphan_bytes == 2000
    assert report.bytes_freed == 7000 + 100 + 200 + 5000 + 2000
    assert not report.storage_failures
    left = stored_names()
    assert not gone & left and "videos/zz/orphan.mp4" not in left
    kept = estate["kept"]
    assert {kept.file.name, *kept.derived_file_names(), "renditions/ab/gone/fresh.mp4"} <= left
    removed = StorageOperation.objects.filter(operation="delete", success=True)
    assert sorted(removed.values_list("path", flat=True)) == sorted(gone | {"videos/zz/orphan.mp4"})
    assert set(removed.filter(video_id=expired.pk).values_list("size_bytes", flat=True)) == {7000, 100, 200}


@pytest.mark.django_db
def test_a_dry_run_on_the_object_store_reports_and_removes_nothing(estate, capsys):
    before = stored_names()

    call_command("cleanup", "--dry-run", "--verbose-ids")

    out = capsys.readouterr().out
    assert "delete past their expiry date videos: 1 (would)" in out
    assert "remove orphan files: 1, 2000 bytes (would)" in out
    assert f"bytes freed: {7000 + 100 + 200 + 5000 + 2000} " in out
    assert "  orphan videos/zz/orphan.mp4" in out
    assert stored_names() == before
    assert Video.objects.count() == 3 and not StorageOperation.objects.exists()


def unreachable(settings) -> None:
    options = dict(settings.STORAGES["default"]["OPTIONS"])
    options["endpoint_url"] = "http://127.0.0.1:9"  # the discard port: nothing answers there
    settings.STORAGES = {**settings.STORAGES, "default": {**settings.STORAGES["default"], "OPTIONS": options}}


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_store_is_recorded_and_the_run_goes_on(estate, settings, capsys):
    reachable = settings.STORAGES
    expired = estate["expired"]
    event = OutboxEvent.objects.create(
        video=estate["kept"], seq=1, event_type="processing_progress", payload={}, status="sent", sent_at=timezone.now()
    )
    OutboxEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - 30 * DAY)
    unreachable(settings)

    report = retention_cleanup()

    # The database rules still ran: the rows went, the old notification was purged.
    assert not Video.objects.filter(pk__in=[expired.pk, estate["old_failed"].pk]).exists()
    assert report.purged_notifications == 1
    assert report.store_unreachable and report.bytes_freed == 0
    failed = StorageOperation.objects.filter(operation="delete", success=False)
    assert sorted(failed.values_list("path", flat=True)) == sorted(
        [expired.file.name, *expired.derived_file_names(), estate["old_failed"].file.name]
        + ["videos/ (orphan sweep)", "renditions/ (orphan sweep)"]
    )
    assert all("MediaStoreUnavailable" in message for message in failed.values_list("error_message", flat=True))
    assert "storage failures: 6" in report.lines()
    # The command prints the same summary, then exits non-zero: here the sweeps of both folders could not run.
    with pytest.raises(CommandError, match=r"^2 storage operation\(s\) failed"):
        call_command("cleanup")
    assert "storage failures: 2" in capsys.readouterr().out

    # Once the store answers again, the next run's sweep removes what the rows no longer name.
    settings.STORAGES = reachable
    again = retention_cleanup()
    assert sorted(again.orphan_files) == sorted(
        [expired.file.name, *expired.derived_file_names(), estate["old_failed"].file.name, "videos/zz/orphan.mp4"]
    )
    assert not again.storage_failures
    assert again.bytes_freed == 7000 + 100 + 200 + 5000 + 2000


@pytest.mark.django_db(transaction=True)
def test_soft_deletion_removes_playback_objects_and_survives_an_unreachable_store(bucket, settings):
    first = video_in_store(state="completed", playback=True)
    names = first.derived_file_names()

    video_soft_delete(video_id=first.pk, actor=first.owner)

    left = stored_names()
    assert not set(names) & left and first.file.name in left  # the original waits for the purge
    removed = StorageOperation.objects.filter(video_id=first.pk, operation="delete", success=True)
    assert sorted(removed.values_list("path", flat=True)) == sorted(names)

    second = video_in_store(state="completed", playback=True)
    unreachable(settings)
    video_soft_delete(video_id=second.pk, actor=second.owner)

    assert Video.objects.get(pk=second.pk).deleted_at is not None
    failed = StorageOperation.objects.filter(video_id=second.pk, operation="delete", success=False)
    assert sorted(failed.values_list("path", flat=True)) == sorted(second.derived_file_names())
