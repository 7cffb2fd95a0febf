"""Workers killed with SIGKILL mid-video, again and again, lose nothing: the task comes back and resumes.

Ten kills at seeded random points of one video (random in frames reached and in time after
them, so they land during inference, COPY or commit alike); each time a fresh worker gets the
unacknowledged task back and continues from the last committed batch. The result must equal an
undisturbed run of the same content: every frame once, each with the same detections.
"""

import random
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Count

from processing.models import Detection, ProcessingJob
from processing.services.jobs import JobOptions
from processing.tasks import process_video
from tests import live
from tests.factories import UserFactory
from tests.videofiles import write_test_video
from videos.models import Video
from videos.services.creation import video_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

QUEUE = "kill-test"
SEED = 9  # change it to kill elsewhere; the same points every run
KILLS = 10
FRAMES = 120
BATCH = 4
VISIBILITY_TIMEOUT = 6
WORKER_ENV = {
    # Redelivery of an unacknowledged task waits for the broker's visibility timeout;
    # the test shortens it so the next worker gets the task back within seconds.
    "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
    # PyTorch, not ONNX: each fresh worker would otherwise export its untrained network again.
    "DETECTOR_BACKEND": "torch",
}


def wait_until(predicate, *, timeout: float, what: str, worker: live.LiveProcess) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}:\n{worker.log_tail()}")


def detections_per_frame(job_id) -> dict[int, int]:
    counts = Detection.objects.filter(job_id=job_id).values("frame_index").annotate(n=Count("id"))
    return {row["frame_index"]: row["n"] for row in counts}


def detection_rows(job_id) -> list[tuple]:
    rows = Detection.objects.filter(job_id=job_id).values_list("frame_index", "class_id", "confidence", "x1", "y1")
    return sorted((frame, cls, round(conf, 4), round(x1, 1), round(y1, 1)) for frame, cls, conf, x1, y1 in rows)


def wait_for_redeliverable(delivered_at: float) -> None:
    """Start the next worker only once the killed worker's message is past its visibility timeout.

    A starting worker restores such messages at once; after that kombu looks again only
    every 100 s (10 s interval, throttled to every 10th call), so starting too early costs
    a hundred seconds, not correctness.
    """
    time.sleep(max(0.0, delivered_at + VISIBILITY_TIMEOUT + 0.5 - time.monotonic()))


def kill_points(rng: random.Random) -> list[tuple[int, float]]:
    """(resume point to reach, seconds to wait after it) for each kill, in video order.

    Points are whole batches apart and the last ones stay clear of the end. A point the
    previous worker already passed makes a kill during the next worker's start (loading
    the detector, before its first batch): another moment a worker may die at.
    """
    reachable = range(BATCH, FRAMES - 6 * BATCH, BATCH)
    return [(frame, rng.uniform(0, 0.15)) for frame in sorted(rng.sample(reachable, KILLS))]


@pytest.mark.timeout(480)  # ten worker starts on two busy cores; a hang still fails
def test_ten_sigkills_at_random_points_leave_exactly_the_detections_of_an_undisturbed_run(django_db_setup, tmp_path):
    content = write_test_video(tmp_path / "long.mp4", seconds=FRAMES / 10, fps=10).read_bytes()
    video = video_create(
        owner=UserFactory(),
        uploaded_file=SimpleUploadedFile("long.mp4", content),
        job_options=JobOptions(batch_size=BATCH),
        enqueue=False,
    )
    job = ProcessingJob.objects.get(video=video)
    rng = random.Random(SEED)
    interrupted_at = []

    process_video.apply_async(args=[str(job.pk)], queue=QUEUE)
    worker, delivered_at = None, 0.0
    try:
        for number, (reach, then_wait) in enumerate(kill_points(rng), start=1):
            wait_for_redeliverable(delivered_at)
            worker = live.start_celery_worker(f"killed-worker-{number}", queues=QUEUE, extra_env=WORKER_ENV)
            live.wait_for_log(worker, "process_video[", timeout=120)
            delivered_at = time.monotonic()
            wait_until(
                lambda reach=reach: ProcessingJob.objects.get(pk=job.pk).next_frame_index >= reach,
                timeout=180,
                what=f"frame {reach} before kill {number}",
                worker=worker,
            )
            time.sleep(then_wait)
            worker.kill()
            at_kill = ProcessingJob.objects.get(pk=job.pk)
            assert at_kill.status == "running" and 0 < at_kill.processed_frames < FRAMES, "killed mid-video"
            interrupted_at.append(at_kill.next_frame_index)

        wait_for_redeliverable(delivered_at)
        worker = live.start_celery_worker("surviving-worker", queues=QUEUE, extra_env=WORKER_ENV)
        wait_until(
            lambda: Video.objects.get(pk=video.pk).workflow_state == "completed",
            timeout=240,
            what="the redelivered task to finish",
            worker=worker,
        )
        # The same content, undisturbed, through a worker process like those that were killed: the
        # untrained network scores thousands of boxes almost alike, so which ones NMS keeps may
        # differ in the last float bits between processes set up differently (this test process
        # has run other tests); between identical worker processes it may not.
        undisturbed = video_create(
            owner=UserFactory(),
            uploaded_file=SimpleUploadedFile("long.mp4", content),
            job_options=JobOptions(batch_size=BATCH),
            enqueue=False,
        )
        undisturbed_job = ProcessingJob.objects.get(video=undisturbed)
        process_video.apply_async(args=[str(undisturbed_job.pk)], queue=QUEUE)
        wait_until(
            lambda: Video.objects.get(pk=undisturbed.pk).workflow_state == "completed",
            timeout=240,
            what="the undisturbed run",
            worker=worker,
        )
    finally:
        if worker is not None:
            worker.stop()

    print(f"{len(interrupted_at)} SIGKILLs, resume points at the kills: {interrupted_at}")
    assert len(interrupted_at) == KILLS
    job.refresh_from_db()
    per_frame = detections_per_frame(job.pk)
    assert sorted(per_frame) == list(range(FRAMES)), "every frame has its detections, once"
    assert job.processed_frames == job.total_frames == FRAMES
    assert job.detections_count == sum(per_frame.values()) == Video.objects.get(pk=video.pk).objects_detected_count

    assert detections_per_frame(job.pk) == detections_per_frame(undisturbed_job.pk)
    killed_rows, undisturbed_rows = detection_rows(job.pk), detection_rows(undisturbed_job.pk)
    print(f"detections: {len(killed_rows)} after the kills, {len(undisturbed_rows)} undisturbed")
    assert killed_rows == undisturbed_rows, "the very same boxes, classes and scores"
