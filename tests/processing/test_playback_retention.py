"""Retention and cleanup keep the files made for playback in step with their videos."""

import os
import shutil
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.models import StorageOperation
from processing.services.retention import retention_cleanup
from tests.factories import VideoFactory
from videos.models import Video

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_media_root(settings, tmp_path):
    """Files of other tests (their rows rolled back, their files not) would be this test's orphans."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()


def write(settings, name: str, size: int, *, age_seconds: float = 7200) -> Path:
    path = Path(settings.MEDIA_ROOT) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    old = time.time() - age_seconds
    os.utime(path, (old, old))
    return path


@pytest.fixture
def old_failed_with_playback(settings):
    video = VideoFactory(workflow_state="failed")
    folder = f"renditions/{video.pk.hex[:2]}/{video.pk}"
    names = {
        "file": f"videos/{video.pk.hex[:2]}/{video.pk}.avi",
        "rendition": f"{folder}/k.mp4",
        "poster": f"{folder}/k-poster.jpg",
        "thumbnails_sprite": f"{folder}/k-thumbs.jpg",
    }
    for size, name in zip((1000, 400, 20, 30), names.values(), strict=True):
        write(settings, name, size)
    Video.objects.filter(pk=video.pk).update(
        **names, playback_kind="rendition", updated_at=timezone.now() - timedelta(days=400)
    )
    yield Video.objects.get(pk=video.pk)
    # The rows roll back with the test, the files would not: left behind, they would be the next test's orphans.
    for name in names.values():
        (Path(settings.MEDIA_ROOT) / name).unlink(missing_ok=True)
    shutil.rmtree(Path(settings.MEDIA_ROOT) / "renditions", ignore_errors=True)


def test_a_dry_run_counts_the_playback_files_and_their_bytes(old_failed_with_playback, capsys):
    call_command("cleanup", "--dry-run")
    out = capsys.readouterr().out

    assert "remove renditions, posters and thumbnails of deleted videos: 3 (would)" in out
    assert "bytes freed: 1450 " in out
    assert all(Path(path).exists() for path in old_failed_with_playback_paths(old_failed_with_playback))


def old_failed_with_playback_paths(video: Video) -> list[str]:
    from django.conf import settings

    return [video.file.path] + [str(Path(settings.MEDIA_ROOT) / name) for name in video.derived_file_names()]


@pytest.mark.django_db(transaction=True)  # files go once their batch commits, as in production
def test_deleting_a_video_removes_its_playback_files_with_a_logged_operation_each(old_failed_with_playback, settings):
    paths = old_failed_with_playback_paths(old_failed_with_playback)
    names = [old_failed_with_playback.file.name, *old_failed_with_playback.derived_file_names()]

    report = retention_cleanup()

    assert report.playback_files == 3
    assert set(report.orphan_files).isdisjoint(names)  # counted once, as the video's, not again as orphans
    assert not any(Path(path).exists() for path in paths)
    assert not (Path(settings.MEDIA_ROOT) / old_failed_with_playback.rendition.name).parent.exists()
    removed = StorageOperation.objects.filter(operation="delete", video_id=old_failed_with_playback.pk)
    assert sorted(removed.values_list("path", flat=True)) == sorted(names)


def test_a_rendition_no_video_refers_to_is_an_orphan(settings, old_failed_with_playback):
    stray = write(settings, "renditions/ab/gone/k.mp4", 50)
    for path in (Path(settings.MEDIA_ROOT) / "videos").rglob("*"):  # another test's, not this one's business
        if path.is_file() and str(path) != old_failed_with_playback.file.path:
            os.utime(path)
    kept = Path(settings.MEDIA_ROOT) / old_failed_with_playback.rendition.name
    Video.objects.filter(pk=old_failed_with_playback.pk).update(updated_at=timezone.now())

    report = retention_cleanup(dry_run=True)

    assert report.orphan_files == [str(stray.relative_to(settings.MEDIA_ROOT))]
    assert kept.exists()
