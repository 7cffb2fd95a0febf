"""`storage_migrate` moves the library between the filesystem and a real S3-compatible server (moto), both ways."""

import hashlib
import io
import os
import uuid

import pytest
from django.core.management import CommandError, call_command

from audit.models import StorageOperation
from processing.models import AnnotatedVideo, DetectorModel
from processing.services.stored_media import MEDIA_FOLDERS, referenced_media
from tests.factories import ProcessingJobFactory, VideoFactory
from tests.object_store import ObjectStoreServer
from videos import media_store
from videos.models import Video
from videos.services import storage_migration
from videos.services.storage_migration import MigrationProgress, StorageSide, storage_for_backend, storage_migrate

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def own_store():
    """A server of this module's own: the tests pause it, which must not stall the session's shared one."""
    with ObjectStoreServer() as server:
        yield server


@pytest.fixture
def store(own_store, settings, tmp_path):
    """MEDIA_S3_* point at a fresh prefix of the server; media on the filesystem under a folder of this test."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    environment = own_store.environment()
    settings.MEDIA_S3_BUCKET = environment["MEDIA_S3_BUCKET"]
    settings.MEDIA_S3_ENDPOINT_URL = environment["MEDIA_S3_ENDPOINT_URL"]
    settings.MEDIA_S3_REGION = environment["MEDIA_S3_REGION"]
    settings.MEDIA_S3_ACCESS_KEY_ID = environment["MEDIA_S3_ACCESS_KEY_ID"]
    settings.MEDIA_S3_SECRET_ACCESS_KEY = environment["MEDIA_S3_SECRET_ACCESS_KEY"]
    settings.MEDIA_S3_PREFIX = f"migrate-{uuid.uuid4().hex[:10]}"
    settings.MEDIA_S3_CONNECT_TIMEOUT_SECONDS = 1
    settings.MEDIA_S3_READ_TIMEOUT_SECONDS = 1
    settings.MEDIA_SCRATCH_DIR = tmp_path / "scratch"
    settings.MEDIA_SCRATCH_MIN_FREE_BYTES = 0
    DetectorModel.objects.all().delete()  # rows from migrations name weights this test's folders do not hold
    return own_store


def media_on_s3(settings, server: ObjectStoreServer) -> None:
    """This process's configured storage becomes the object store at MEDIA_S3_PREFIX."""
    storages = server.storages_setting()
    storages["default"]["OPTIONS"]["location"] = settings.MEDIA_S3_PREFIX
    settings.STORAGES = storages
    settings.MEDIA_STORAGE = "s3"


def put(name: str, size: int) -> bytes:
    data = os.urandom(size)
    media_store.store_stream(stream=io.BytesIO(data), name=name)
    return data


def make_library(*, videos: int = 3, big_original: bool = False) -> dict[str, bytes]:
    """Videos with originals and playback files, an annotated video, custom weights, and an orphan: in the source.

    `big_original`: the first original is past the multipart threshold, so it goes (and comes back) in parts.
    """
    contents = {}
    for index in range(videos):
        video = VideoFactory(workflow_state="completed")
        folder = f"renditions/{video.pk.hex[:2]}/{video.pk}"
        names = {
            "file": f"videos/{video.pk.hex[:2]}/{video.pk}.mp4",
            "rendition": f"{folder}/k.mp4",
            "poster": f"{folder}/k-poster.jpg",
            "thumbnails_sprite": f"{folder}/k-thumbs.jpg",
        }
        for offset, name in enumerate(names.values()):
            size = 17 * 1024**2 + 3 if big_original and index == 0 and offset == 0 else 1000 * (index + 1) + offset
            contents[name] = put(name, size)
        Video.objects.filter(pk=video.pk).update(**names)
    job = ProcessingJobFactory(video=Video.objects.first())
    render = AnnotatedVideo.objects.create(job=job, options={}, options_hash="x" * 64, status="ready")
    render.file.name = f"videos/{job.video_id.hex[:2]}/{job.video_id}-annotated-{render.pk}.mp4"
    render.save()
    contents[render.file.name] = put(render.file.name, 4321)
    weights = DetectorModel.objects.create(name="custom", weights=f"models/{uuid.uuid4().hex}.pt")
    contents[weights.weights.name] = put(weights.weights.name, 777)
    put("videos/zz/orphan.mp4", 55)
    return contents


def target_contents(backend: str, names) -> dict[str, bytes]:
    side = StorageSide(storage_for_backend(backend))
    found = {}
    for name in names:
        if side.size(name) is not None:
            stream = side.open(name)
            try:
                found[name] = stream.read()
            finally:
                stream.close()
    return found


def migrate(target: str, **options):
    return storage_migrate(
        target_backend=target, references=referenced_media(), orphan_folders=MEDIA_FOLDERS, **options
    )


@pytest.mark.parametrize("direction", ["local-to-s3", "s3-to-local"])
def test_every_referenced_object_is_copied_verified_and_logged(direction, store, settings, capsys):
    if direction == "s3-to-local":
        media_on_s3(settings, store)
    target = "s3" if direction == "local-to-s3" else "local"
    library = make_library(big_original=True)

    call_command("storage_migrate", "--to", target, "--list-orphans")

    out = capsys.readouterr().out
    assert f"copied and verified: {len(library)} objects" in out
    assert "failed: 0" in out
    assert "orphan videos/zz/orphan.mp4 (55 bytes)" in out
    assert f"Next: set MEDIA_STORAGE={target}" in out
    assert target_contents(target, library) == library
    assert target_contents(target, ["videos/zz/orphan.mp4"]) == {}  # orphans are listed, not copied
    copies = StorageOperation.objects.filter(operation="copy")
    assert sorted(copies.values_list("path", flat=True)) == sorted(library)
    assert all(copies.values_list("success", flat=True))
    for name, data in library.items():  # the source keeps everything without --delete-source
        assert media_store.sha256_of(name) == hashlib.sha256(data).hexdigest()


def test_the_progress_goes_to_stderr_as_plain_lines_when_not_a_terminal(store, capsys):
    library = make_library(videos=1)
    call_command("storage_migrate", "--to", "s3")
    err = capsys.readouterr().err.splitlines()
    assert len(err) == len(library)
    assert err[-1].startswith(f"[{len(library)}/{len(library)} objects, ")
    assert "100%]  copied: " in err[-1]


def test_the_progress_bar_on_a_terminal_redraws_one_line():
    from processing.management.commands.storage_migrate import ProgressDisplay

    terminal = io.StringIO()
    display = ProgressDisplay(terminal, interactive=True)
    display(MigrationProgress(objects_done=0, objects_total=2, bytes_done=0, bytes_total=2 * 1024**2, name="a"))
    display(MigrationProgress(1, 2, 1024**2, 2 * 1024**2, name="a", outcome="copied"))
    display(MigrationProgress(2, 2, 2 * 1024**2, 2 * 1024**2, name="b", outcome="already at the target"))
    display.finish()

    drawn = terminal.getvalue()
    assert drawn.count("\r") == 3 and drawn.endswith("\n") and drawn.count("\n") == 1
    assert "[1/2 objects, 1.0/2.0 MiB, 50%] copied: a" in drawn
    assert "|" + "#" * 30 + "| [2/2 objects, 2.0/2.0 MiB, 100%] already at the target: b" in drawn


def test_a_dry_run_copies_nothing(store, settings, capsys):
    library = make_library(videos=2)

    call_command("storage_migrate", "--to", "s3", "--dry-run")

    out = capsys.readouterr().out
    assert f"would copy: {len(library)} objects" in out
    assert "dry run: nothing was copied" in out
    stored_keys = store.keys()
    assert not [key for key in stored_keys if key.startswith(f"{settings.MEDIA_S3_PREFIX}/")]
    assert not StorageOperation.objects.exists()


class Interrupted(Exception):
    """The process dying in the middle of a copy (a kill, Ctrl-C)."""


@pytest.mark.parametrize("direction", ["local-to-s3", "s3-to-local"])
def test_an_interrupted_migration_resumes_and_skips_what_is_across(direction, store, settings):
    if direction == "s3-to-local":
        media_on_s3(settings, store)
    target = "s3" if direction == "local-to-s3" else "local"
    library = make_library()
    interrupt_at = 5

    def die_halfway_through_an_object(progress):
        if progress.objects_done == interrupt_at - 1 and progress.bytes_done and not progress.outcome:
            raise Interrupted

    with pytest.raises(Interrupted):
        migrate(target, progress=die_halfway_through_an_object)

    across = target_contents(target, library)
    assert len(across) == interrupt_at - 1, "the object being copied is not there, not even in part"
    assert all(library[name] == data for name, data in across.items())
    if target == "local":
        assert not [path for path in settings.MEDIA_ROOT.rglob("*.part")], "no partial file is left either"

    report = migrate(target)

    assert report.succeeded
    assert sorted(report.present) == sorted(across)
    assert len(report.copied) == len(library) - len(across)
    assert target_contents(target, library) == library


def test_a_target_object_with_the_same_size_but_other_bytes_is_copied_again(store, settings):
    library = make_library(videos=1)
    damaged, *_ = sorted(library)
    target = StorageSide(storage_for_backend("s3"))
    target.write(damaged, io.BytesIO(bytes(len(library[damaged]))))

    report = migrate("s3")

    assert report.succeeded and damaged in report.copied and damaged not in report.present
    assert target_contents("s3", [damaged]) == {damaged: library[damaged]}


def test_a_copy_that_does_not_match_its_source_is_removed_and_fails_the_run(store, monkeypatch, capsys):
    library = make_library(videos=1)
    damaged = sorted(library)[2]

    class FlipsAByte:
        def __init__(self, reader):
            self.reader, self.first = reader, True

        def read(self, size=-1):
            data = self.reader.read(size)
            if data and self.first:
                self.first = False
                return bytes([data[0] ^ 0xFF]) + data[1:]
            return data

    real = storage_migration._stream_to_target
    names = iter(sorted(library))

    def damaging(reader):
        return FlipsAByte(reader) if next(names) == damaged else real(reader)

    monkeypatch.setattr(storage_migration, "_stream_to_target", damaging)

    with pytest.raises(CommandError, match="1 object"):
        call_command("storage_migrate", "--to", "s3")

    out = capsys.readouterr().out
    assert "failed: 1" in out and f"{damaged}: CopyVerificationFailed" in out
    assert damaged not in target_contents("s3", library)
    failure = StorageOperation.objects.get(operation="copy", success=False)
    assert failure.path == damaged and "SHA-256" in failure.error_message


def test_the_store_stopping_mid_run_fails_the_rest_then_a_rerun_finishes(store, settings, monkeypatch):
    monkeypatch.setattr(storage_migration, "UNREACHABLE_LIMIT", 2)  # each failure waits out the client's timeouts
    library = make_library()
    paused = []

    def pause_after_four(progress):
        if progress.outcome and progress.objects_done == 4 and not paused:
            store.pause()
            paused.append(True)

    try:
        report = migrate("s3", progress=pause_after_four)
    finally:
        store.resume()

    assert not report.succeeded
    assert len(report.copied) == 4
    assert len(report.failed) == storage_migration.UNREACHABLE_LIMIT
    assert len(report.not_tried) == len(library) - 4 - storage_migration.UNREACHABLE_LIMIT
    assert StorageOperation.objects.filter(operation="copy", success=False).count() == 2

    rerun = migrate("s3")
    assert rerun.succeeded and len(rerun.present) == 4
    assert target_contents("s3", library) == library


def test_delete_source_removes_only_verified_objects(store, settings, capsys):
    library = make_library(videos=1)

    call_command("storage_migrate", "--to", "s3", "--delete-source")

    assert target_contents("s3", library) == library
    assert not any(media_store.exists(name) for name in library)
    assert media_store.exists("videos/zz/orphan.mp4"), "orphans are not the migration's to remove"
    assert not (settings.MEDIA_ROOT / "renditions").exists(), "emptied folders go with their files"
    assert StorageOperation.objects.filter(operation="delete", success=True).count() == len(library)
    # A rerun finds them across already: nothing fails because the source is gone.
    assert migrate("s3").succeeded


def test_an_object_missing_at_the_source_fails_the_run_and_the_rest_is_copied(store, capsys):
    library = make_library(videos=1)
    lost = VideoFactory(workflow_state="completed")
    Video.objects.filter(pk=lost.pk).update(file="videos/lo/lost.mp4")

    with pytest.raises(CommandError, match="1 object"):
        call_command("storage_migrate", "--to", "s3")

    assert "videos/lo/lost.mp4: MediaObjectMissing: missing at the source" in capsys.readouterr().out
    assert target_contents("s3", library) == library


def test_refusals(store, settings):
    with pytest.raises(CommandError, match="already stored on local"):
        call_command("storage_migrate", "--to", "local")
    settings.MEDIA_S3_BUCKET = ""
    with pytest.raises(CommandError, match="MEDIA_S3_BUCKET"):
        call_command("storage_migrate", "--to", "s3")
    settings.MEDIA_S3_BUCKET = "mp-test-no-such-bucket"
    with pytest.raises(CommandError, match="cannot be reached"):
        call_command("storage_migrate", "--to", "s3")
