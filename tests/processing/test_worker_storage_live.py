"""A Celery worker that shares no media folder with the web host: it finds the original in the object store,
leaves its results there, and sweeps a killed predecessor's scratch copies when it starts."""

import socket

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from processing.models import Detection, ProcessingJob
from tests import faults, live
from tests.factories import UserFactory
from tests.videofiles import write_test_video
from videos import media_store
from videos.models import Video
from videos.services.creation import video_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def test_a_worker_on_another_host_runs_a_job_through_the_object_store(s3_media, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "web-media"
    clip = write_test_video(tmp_path / "clip.avi", seconds=2, fps=10, codec="msmpeg4")
    video = video_create(
        owner=UserFactory(), uploaded_file=SimpleUploadedFile("clip.avi", clip.read_bytes()), enqueue=False
    )
    job = ProcessingJob.objects.get(video=video)
    worker_media, scratch = tmp_path / "worker-media", tmp_path / "worker-scratch"
    killed = scratch / f"{media_store.SCRATCH_PREFIX}-{socket.gethostname()}-999999999-0123456789ab"
    killed.mkdir(parents=True)
    (killed / "clip.avi").write_bytes(b"the copy of a worker killed mid-job")

    with faults.private_redis() as redis, faults.processes() as started:
        env = {
            **redis.env(),
            **s3_media.environment(),
            "MEDIA_ROOT": str(worker_media),
            "MEDIA_SCRATCH_DIR": str(scratch),
            "MEDIA_SCRATCH_MIN_FREE_BYTES": "0",
            "MEDIA_WEIGHTS_CACHE_DIR": str(tmp_path / "worker-weights"),
        }
        worker = live.start_celery_worker("worker-object-store", extra_env=env)
        started.append(worker)
        faults.wait_until(lambda: not killed.exists(), timeout=60, what="the start-up sweep", logs=[worker])
        faults.send_process_video(redis, job.pk)
        faults.wait_until(
            lambda: Video.objects.get(pk=video.pk).workflow_state in ("completed", "failed"),
            timeout=240,
            what="the job to finish",
            logs=[worker],
        )

    video.refresh_from_db()
    job.refresh_from_db()
    assert video.workflow_state == "completed", video.last_error_message
    assert video.playback_kind == "rendition" and all(media_store.exists(n) for n in video.derived_file_names())
    assert Detection.objects.filter(job=job).count() == job.detections_count
    assert not [path for path in worker_media.rglob("*") if path.is_file()], "the worker wrote no media locally"
    assert list(scratch.iterdir()) == [], "its own scratch copies went with the job"
