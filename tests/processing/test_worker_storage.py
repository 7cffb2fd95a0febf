"""The worker's media on both backends: whole runs with media in a real S3-compatible store (moto's server), the
annotated video rendered into it, uploaded weights run from it, and the store's faults in the recovery matrix.

Each test gives itself an empty MEDIA_ROOT and scratch folder, so "nothing under MEDIA_ROOT" and "scratch empty
after" are about this run alone.
"""

from pathlib import Path

import pytest
import torch
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import StorageOperation
from processing import weights_cache
from processing.detector import file_sha256
from processing.models import AnnotatedVideo, Detection, ProcessingErrorLog, ProcessingJob
from processing.services.annotated_video import (
    AnnotatedVideoOptions,
    annotated_video_download_url,
    annotated_video_open,
    annotated_video_render,
    annotated_video_request,
)
from processing.services.jobs import JobOptions, job_create
from processing.services.pipeline import job_run
from processing.services.registry import detector_config_for, detector_model_register
from processing.services.scratch import worker_leftovers_sweep
from tests.factories import UserFactory
from tests.object_store import ObjectStoreServer
from tests.processing.running import settle
from tests.videofiles import write_test_video
from videos import media_store
from videos.models import Video
from videos.services.creation import video_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker_folders(settings, tmp_path):
    """Empty media, scratch and weights-cache folders of this test's own."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_SCRATCH_DIR = tmp_path / "scratch"
    settings.MEDIA_SCRATCH_MIN_FREE_BYTES = 0
    settings.MEDIA_WEIGHTS_CACHE_DIR = tmp_path / "weights-cache"
    Path(settings.MEDIA_ROOT).mkdir()
    return tmp_path


@pytest.fixture
def on_s3(worker_folders, s3_media):
    return s3_media


@pytest.fixture(params=["local", "s3"])
def backend(request, worker_folders):
    if request.param == "s3":
        return request.getfixturevalue("s3_media")
    return None


@pytest.fixture
def rendered_here(monkeypatch):
    """The render is drawn in this process: a worker of the suite could take a queued one under its own settings."""
    from processing.services import annotated_video

    monkeypatch.setattr(annotated_video, "_enqueue", lambda render_id: None)


def files_under(folder) -> list[Path]:
    folder = Path(folder)
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def upload(path: Path, *, frame_step: int = 1, options: JobOptions | None = None) -> Video:
    return video_create(
        owner=UserFactory(),
        uploaded_file=SimpleUploadedFile(path.name, path.read_bytes()),
        frame_step=frame_step,
        job_options=options,
        enqueue=False,
    )


def objects_in(server: ObjectStoreServer) -> set[str]:
    return set(server.keys())


def stored_keys(server: ObjectStoreServer, video: Video) -> set[str]:
    names = [video.file.name, *video.derived_file_names()]
    return {f"{server.prefix}/{name}" for name in names}


@pytest.mark.parametrize(
    ("file_name", "codec", "kind"),
    [("clip.mp4", "libx264", "original"), ("clip.avi", "msmpeg4", "rendition")],
    ids=["h264-mp4", "msmpeg4-avi"],
)
def test_a_run_with_media_in_the_object_store(on_s3, settings, tmp_path, file_name, codec, kind):
    source = write_test_video(tmp_path / file_name, seconds=2, fps=10, width=320, height=240, codec=codec)
    video = upload(source, frame_step=2)

    job = settle(ProcessingJob.objects.get(video=video).pk)

    video.refresh_from_db()
    assert (video.workflow_state, job.status) == ("completed", "completed")
    assert job.processed_frames == 10 and Detection.objects.filter(job=job).count() == job.detections_count > 0
    assert video.playback_kind == kind
    derived = video.derived_file_names()
    assert len(derived) == (3 if kind == "rendition" else 2), derived
    keys = objects_in(on_s3)
    assert stored_keys(on_s3, video) <= keys, "the original, the poster, the thumbnails (and rendition) are objects"
    for name in derived:
        assert media_store.size(name) > 0
        operation = StorageOperation.objects.get(operation="upload", path=name)
        assert operation.success and operation.size_bytes == media_store.size(name)
    assert files_under(settings.MEDIA_ROOT) == [], "nothing is written under MEDIA_ROOT"
    assert files_under(settings.MEDIA_SCRATCH_DIR) == [], "the source copy and the made files are gone"
    assert list(Path(settings.MEDIA_SCRATCH_DIR).iterdir()) == [], "and so are their scratch folders"


def test_a_second_run_keeps_the_current_playback_files(on_s3, settings, tmp_path):
    video = upload(write_test_video(tmp_path / "clip.avi", seconds=1, fps=10, codec="msmpeg4"))
    settle(ProcessingJob.objects.get(video=video).pk)
    video.refresh_from_db()
    uploads = StorageOperation.objects.filter(operation="upload").count()

    again = job_create(video=video, options=JobOptions(frame_step=5), enqueue=False)
    assert settle(again.pk).status == "completed"

    assert StorageOperation.objects.filter(operation="upload").count() == uploads, "nothing made or stored again"
    assert Video.objects.get(pk=video.pk).derived_file_names() == video.derived_file_names()
    assert files_under(settings.MEDIA_SCRATCH_DIR) == []


def test_the_annotated_video_is_rendered_into_the_object_store(on_s3, settings, tmp_path, rendered_here):
    video = upload(write_test_video(tmp_path / "clip.mp4", seconds=2, fps=10, width=320, height=240))
    job = settle(ProcessingJob.objects.get(video=video).pk)
    render = annotated_video_request(job_id=job.pk, options=AnnotatedVideoOptions())

    render = annotated_video_render(render_id=render.pk)

    assert render.status == "ready", render.error
    assert f"{on_s3.prefix}/{render.file.name}" in objects_in(on_s3)
    assert media_store.size(render.file.name) == render.size_bytes > 0
    with annotated_video_open(render=render, actor=None) as handle:
        assert handle.read(12)[4:8] == b"ftyp", "an MP4 streamed back from the store"
    url = annotated_video_download_url(render=render, actor=None)
    assert url.startswith(on_s3.endpoint_url) and "X-Amz-Signature" in url
    assert f"run-{job.pk}-annotated.mp4" in url, "downloaded under the run's name"
    assert StorageOperation.objects.filter(operation="access", path=render.file.name).count() == 2
    assert files_under(settings.MEDIA_ROOT) == [] and files_under(settings.MEDIA_SCRATCH_DIR) == []

    # Its file goes with its row, from the store too.
    AnnotatedVideo.objects.filter(pk=render.pk).delete()
    assert f"{on_s3.prefix}/{render.file.name}" not in objects_in(on_s3)


def test_the_annotated_video_download_url_is_none_on_the_filesystem(worker_folders, tmp_path, rendered_here):
    video = upload(write_test_video(tmp_path / "clip.mp4", seconds=1, fps=10))
    job = settle(ProcessingJob.objects.get(video=video).pk)
    render = annotated_video_render(
        render_id=annotated_video_request(job_id=job.pk, options=AnnotatedVideoOptions()).pk
    )

    assert render.status == "ready" and annotated_video_download_url(render=render, actor=None) is None
    with annotated_video_open(render=render, actor=None) as handle:
        assert handle.read(12)[4:8] == b"ftyp"
    assert files_under(worker_folders / "scratch") == []


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    from processing.weights_loading import yolo_load

    torch.manual_seed(3)
    path = tmp_path_factory.mktemp("weights") / "tiny-detector.pt"
    yolo_load("yolov8n.yaml").save(str(path))
    return path


def test_uploaded_weights_run_from_the_object_store_copied_once(on_s3, settings, tmp_path, tiny_weights, monkeypatch):
    settings.DETECTOR_BACKEND = "torch"  # the weights are what is under test, not the backend measurement
    model = detector_model_register(name="tiny", version="1", weights_path=str(tiny_weights), image_size=320)
    assert f"{on_s3.prefix}/{model.weights.name}" in objects_in(on_s3)
    fills = []
    real_fill = weights_cache._fill
    monkeypatch.setattr(weights_cache, "_fill", lambda target, **kw: fills.append(target) or real_fill(target, **kw))
    clips = [write_test_video(tmp_path / f"clip{n}.mp4", seconds=1, fps=10, variant=n) for n in (1, 2)]

    first, second = (
        settle(ProcessingJob.objects.get(video=upload(clip, options=JobOptions(model_name="tiny"))).pk)
        for clip in clips
    )

    assert (first.status, second.status) == ("completed", "completed")
    assert first.model_name == "tiny v1" and first.config["weights_sha256"] == model.sha256
    cached = Path(settings.MEDIA_WEIGHTS_CACHE_DIR) / f"{model.sha256}.pt"
    assert fills == [cached], "copied from the store once for both runs"
    assert [path.name for path in files_under(settings.MEDIA_WEIGHTS_CACHE_DIR)] == [cached.name]
    assert file_sha256(cached) == model.sha256
    assert files_under(settings.MEDIA_ROOT) == []


def test_weights_changed_in_the_store_are_not_loaded(on_s3, tiny_weights):
    model = detector_model_register(name="tiny", version="2", weights_path=str(tiny_weights), image_size=320)
    on_s3.client().put_object(Bucket=on_s3.bucket, Key=f"{on_s3.prefix}/{model.weights.name}", Body=b"other bytes")

    from processing.detector import DetectorUnavailable

    with pytest.raises(DetectorUnavailable, match="changed in storage"):
        detector_config_for(model)
    assert files_under(weights_cache.weights_cache_dir()) == [], "no copy that looks whole is left"


def test_queueing_a_run_fetches_no_weights(on_s3, tiny_weights, monkeypatch):
    model = detector_model_register(name="tiny", version="3", weights_path=str(tiny_weights), image_size=320)
    monkeypatch.setattr(weights_cache, "_fill", lambda *a, **kw: pytest.fail("the web side copied weights"))
    config = detector_config_for(model, fetch_weights=False)
    assert config.name == "tiny v3" and config.weights == model.weights.name


def test_the_original_missing_from_storage_fails_the_run_once_with_a_clear_message(backend, tmp_path):
    video = upload(write_test_video(tmp_path / "clip.mp4", seconds=1, fps=10))
    media_store.delete(video.file.name)
    job = ProcessingJob.objects.get(video=video)

    outcome = job_run(job_id=job.pk)

    assert outcome.retry_in_seconds is None, "nothing to wait for: no retry"
    job.refresh_from_db()
    video.refresh_from_db()
    assert (job.status, video.workflow_state) == ("failed", "failed")
    assert video.last_error_message.startswith("The original file is missing from storage")
    error = ProcessingErrorLog.objects.get(job=job)
    assert (error.error_type, error.error_code, error.recovery_strategy) == (
        "file_corruption",
        "original_missing",
        "user_notification",
    )


@pytest.fixture
def private_store(worker_folders, settings):
    """A store of this test's own, which it may pause without holding up the suite's."""
    with ObjectStoreServer() as server:
        settings.STORAGES = server.storages_setting()
        settings.MEDIA_STORAGE = "s3"
        settings.MEDIA_S3_PUBLIC_ENDPOINT_URL = None
        yield server
        server.resume()


def test_a_store_that_stops_answering_mid_run_is_waited_for_then_the_run_completes(
    private_store, settings, tmp_path, monkeypatch
):
    video = upload(write_test_video(tmp_path / "clip.avi", seconds=2, fps=10, codec="msmpeg4"), frame_step=2)
    job = ProcessingJob.objects.get(video=video)
    batch_size = job.batch_size
    real_store_file = media_store.store_file
    paused = []

    def store_file_after_the_store_froze(**kwargs):
        if not paused:  # the source is copied and the playback files made: the store freezes as they are stored
            private_store.pause()
            paused.append(kwargs["name"])
        return real_store_file(**kwargs)

    monkeypatch.setattr(media_store, "store_file", store_file_after_the_store_froze)

    outcome = job_run(job_id=job.pk)

    assert paused and outcome.retry_in_seconds == settings.RETRY_RESOURCE_DELAY_SECONDS
    error = ProcessingErrorLog.objects.get(job=job)
    assert (error.error_type, error.error_code, error.recovery_strategy) == (
        "resource_exhaustion",
        "media_store_unavailable",
        "delayed_retry",
    )
    assert error.system_state["will_retry"] and error.stage == "extraction"
    job.refresh_from_db()
    assert job.status == "retrying" and job.batch_size == batch_size, "waiting for the store, same batch"
    assert files_under(settings.MEDIA_SCRATCH_DIR) == [], "the failed attempt's copies are gone"

    private_store.resume()  # the store is back: the delayed retry completes the run
    job = settle(job.pk)

    video.refresh_from_db()
    assert (job.status, video.workflow_state, video.playback_kind) == ("completed", "completed", "rendition")
    assert job.processed_frames == 10 and Detection.objects.filter(job=job).count() == job.detections_count
    assert stored_keys(private_store, video) <= objects_in(private_store), "nothing lost"
    assert ProcessingErrorLog.objects.filter(job=job).count() == 1
    assert files_under(settings.MEDIA_SCRATCH_DIR) == [] and files_under(settings.MEDIA_ROOT) == []


def test_a_store_unreachable_when_the_run_starts_is_a_resource_error(private_store, tmp_path):
    video = upload(write_test_video(tmp_path / "clip.mp4", seconds=1, fps=10))
    job = ProcessingJob.objects.get(video=video)
    private_store.pause()
    try:
        outcome = job_run(job_id=job.pk)
    finally:
        private_store.resume()

    assert outcome.retry_in_seconds is not None
    error = ProcessingErrorLog.objects.get(job=job)
    assert (error.error_type, error.error_code, error.stage) == (
        "resource_exhaustion",
        "media_store_unavailable",
        "validation",
    )
    assert settle(job.pk).status == "completed"


def test_a_full_scratch_disk_waits_for_room(on_s3, settings, tmp_path):
    video = upload(write_test_video(tmp_path / "clip.mp4", seconds=1, fps=10))
    job = ProcessingJob.objects.get(video=video)
    settings.MEDIA_SCRATCH_MIN_FREE_BYTES = 1 << 60  # no disk has that much room left

    outcome = job_run(job_id=job.pk)

    assert outcome.retry_in_seconds is not None
    error = ProcessingErrorLog.objects.get(job=job)
    assert (error.error_type, error.error_code) == ("resource_exhaustion", "scratch_full")
    settings.MEDIA_SCRATCH_MIN_FREE_BYTES = 0
    assert settle(job.pk).status == "completed"


def test_a_starting_worker_removes_what_killed_workers_left(worker_folders, settings):
    scratch = Path(settings.MEDIA_SCRATCH_DIR)
    dead = scratch / f"{media_store.SCRATCH_PREFIX}-{__import__('socket').gethostname()}-999999999-abcdef123456"
    dead.mkdir(parents=True)
    (dead / "clip.mp4").write_bytes(b"half a copy")
    with media_store.scratch_folder() as alive:
        cache = weights_cache.weights_cache_dir()
        (cache / ".abc.pt.999999999-1234abcd.part").write_bytes(b"half")
        (cache / "abc.pt").write_bytes(b"whole")

        assert worker_leftovers_sweep() == 2

        assert not dead.exists() and alive.exists(), "a running process's folder stays"
    assert [path.name for path in cache.iterdir()] == ["abc.pt"]
