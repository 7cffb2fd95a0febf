"""Two workers and the stuck-job sweep racing for one video: one runs it, its detections are stored once.

Both workers get a message for the same job at the same moment (a duplicate delivery, as a
broker's redelivery or the sweep makes), while a third worker runs the stuck-job sweep as
fast as the test can send it, with no grace period at all (STUCK_JOB_SECONDS=0), so it
looks at the job in every state it passes through. All three use a private Redis, so the
sweep sees exactly the broker they use. The PostgreSQL advisory lock must let exactly one
runner work; the sweep must neither run the job again nor take it for a lost one.
"""

import time

import pytest
from celery import Celery
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Count

from processing.models import Detection, ProcessingErrorLog, ProcessingJob
from processing.services.jobs import JobOptions
from processing.services.sweeps import _BrokerView, _decide
from tests import faults, live
from tests.factories import ProcessingJobFactory, UserFactory
from tests.videofiles import write_test_video
from videos.models import Video
from videos.services.creation import video_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

FRAMES = 40


def finished(video_id, broker: Celery) -> bool:
    # Each poll is also a beat tick: one more sweep, while the runners work.
    broker.send_task("processing.tasks.requeue_stuck_jobs", queue="default")
    time.sleep(0.1)
    return Video.objects.get(pk=video_id).workflow_state in ("completed", "failed")


def test_two_workers_and_the_sweep_racing_for_one_video_store_its_detections_once(tmp_path):
    content = write_test_video(tmp_path / "clip.mp4", seconds=FRAMES / 10, fps=10).read_bytes()
    video = video_create(
        owner=UserFactory(),
        uploaded_file=SimpleUploadedFile("clip.mp4", content),
        job_options=JobOptions(batch_size=4),
        enqueue=False,
    )
    job = ProcessingJob.objects.get(video=video)

    with faults.private_redis() as redis, faults.processes() as started:
        runners = [
            live.start_celery_worker(name, queues="inference", extra_env=redis.env())
            for name in ("racing-worker-a", "racing-worker-b")
        ]
        started += runners
        sweeper = live.start_celery_worker(
            "sweeping-worker", queues="default", extra_env={**redis.env(), "STUCK_JOB_SECONDS": "0"}
        )
        started.append(sweeper)
        broker = Celery("race-test", broker=redis.env()["CELERY_BROKER_URL"], set_as_current=False)
        try:
            for _ in runners:
                faults.send_process_video(redis, job.pk)
            faults.wait_until(lambda: finished(video.pk, broker), timeout=180, what="the video", logs=started)
        finally:
            broker.close()

        def read_logs() -> dict[str, str]:
            return {worker.name: worker.log_path.read_text(errors="replace") for worker in started}

        # The commit is visible here a moment before its runner has written the line that says so.
        faults.wait_until(
            lambda: any(f"job {job.pk} completed" in log for log in read_logs().values()),
            timeout=30,
            what="the runner's completion line",
            logs=started,
        )
        logs = read_logs()

    ran = [name for name, log in logs.items() if f"job {job.pk} completed" in log]
    stood_aside = [
        name
        for name, log in logs.items()
        if f"job {job.pk} is being run by another worker" in log or f"job {job.pk} is completed; nothing" in log
    ]
    sweeps = logs["sweeping-worker"].count("requeue_stuck_jobs[")
    print(f"ran: {ran}; stood aside: {stood_aside}; sweep task lines: {sweeps}")
    assert len(ran) == 1, "exactly one worker ran the job"
    assert sweeps > 0, "the sweep ran meanwhile"
    assert Video.objects.get(pk=video.pk).workflow_state == "completed"
    job.refresh_from_db()
    assert job.status == "completed" and job.processed_frames == job.total_frames == FRAMES
    per_frame = dict(
        Detection.objects.filter(job=job)
        .values_list("frame_index")
        .annotate(n=Count("id"))
        .values_list("frame_index", "n")
    )
    assert sorted(per_frame) == list(range(FRAMES)), "every frame once"
    assert len(set(per_frame.values())) == 1, "each frame holds the detector's quota, no more"
    assert job.detections_count == sum(per_frame.values())
    assert not ProcessingErrorLog.objects.filter(job=job).exists(), "the sweep took no live job for a lost one"


def test_the_sweep_leaves_alone_a_job_that_finished_after_the_sweep_looked():
    # The sweep listed the job as running with a silent heartbeat; its runner then finished
    # and let go of the lock. Taking it for lost now would fail a completed job.
    job = ProcessingJobFactory(status="completed", video__workflow_state="completed")

    decision = _decide(
        job_id=job.pk, stage="inference", heartbeat_at=job.created_at, stale_after=0, broker=_BrokerView()
    )

    assert decision is None
    job.refresh_from_db()
    assert job.status == "completed" and not ProcessingErrorLog.objects.filter(job=job).exists()
