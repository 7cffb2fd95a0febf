"""A worker killed with SIGKILL mid-video loses nothing: the task comes back and resumes."""

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Count

from processing.models import Detection, ProcessingJob
from processing.services.jobs import JobOptions
from processing.services.pipeline import job_run
from processing.tasks import process_video
from tests import live
from tests.factories import UserFactory
from tests.videofiles import write_test_video
from videos.models import Video
from videos.services.creation import video_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

QUEUE = "kill-test"
# Redelivery of an unacknowledged task waits for the broker's visibility timeout;
# the test shortens it so the second worker gets the task back within seconds.
WORKER_ENV = {"CELERY_VISIBILITY_TIMEOUT": "6"}


def wait_until(predicate, *, timeout: float, what: str, worker: live.LiveProcess) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}:\n{worker.log_tail()}")


def detections_per_frame(job_id) -> dict[int, int]:
    # The untrained network scores thousands of boxes almost alike, so which of them NMS keeps can
    # differ between processes in the last float bits; how many each frame keeps cannot.
    counts = Detection.objects.filter(job_id=job_id).values("frame_index").annotate(n=Count("id"))
    return {row["frame_index"]: row["n"] for row in counts}


def test_sigkill_mid_video_resumes_with_no_duplicate_and_no_gap(django_db_setup, tmp_path):
    content = write_test_video(tmp_path / "long.mp4", seconds=6, fps=10).read_bytes()
    owner = UserFactory()
    video = video_create(owner=owner, uploaded_file=SimpleUploadedFile("long.mp4", content), enqueue=False)
    job = ProcessingJob.objects.get(video=video)

    first = live.start_celery_worker("killed-worker", queues=QUEUE, extra_env=WORKER_ENV)
    second = None
    try:
        process_video.apply_async(args=[str(job.pk)], queue=QUEUE)
        wait_until(
            lambda: ProcessingJob.objects.get(pk=job.pk).next_frame_index >= 12,
            timeout=240,
            what="the first batches",
            worker=first,
        )
        first.kill()
        interrupted = ProcessingJob.objects.get(pk=job.pk)
        assert interrupted.status == "running" and 0 < interrupted.processed_frames < 60

        second = live.start_celery_worker("second-worker", queues=QUEUE, extra_env=WORKER_ENV)
        wait_until(
            lambda: Video.objects.get(pk=video.pk).workflow_state == "completed",
            timeout=300,
            what="the redelivered task to finish",
            worker=second,
        )
    finally:
        first.stop()
        if second is not None:
            second.stop()

    job.refresh_from_db()
    per_frame = dict(
        Detection.objects.filter(job=job)
        .values_list("frame_index")
        .annotate(n=Count("id"))
        .values_list("frame_index", "n")
    )
    assert sorted(per_frame) == list(range(60)), "every frame has its detections, once"
    assert len(set(per_frame.values())) == 1, "each frame holds the detector's full quota, no more"
    assert job.processed_frames == job.total_frames == 60
    assert job.detections_count == sum(per_frame.values()) == Video.objects.get(pk=video.pk).objects_detected_count

    # The same content processed without interruption, in this process, by the same (seeded) network.
    undisturbed = video_create(
        owner=UserFactory(),
        uploaded_file=SimpleUploadedFile("long.mp4", content),
        job_options=JobOptions(),
        enqueue=False,
    )
    undisturbed_job = ProcessingJob.objects.get(video=undisturbed)
    job_run(job_id=undisturbed_job.pk)
    assert detections_per_frame(job.pk) == detections_per_frame(undisturbed_job.pk)
