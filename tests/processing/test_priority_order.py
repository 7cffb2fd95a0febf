"""A real worker takes an urgent run before the normal ones queued ahead of it."""

import re
import time

import pytest
import redis
from django.conf import settings

from mediaplatform.celery import app
from processing.models import JobPriority, JobStatus
from processing.services.jobs import job_message_priority
from processing.tasks import process_video
from tests import live
from tests.factories import ProcessingJobFactory, VideoFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

RECEIVED = re.compile(r"process_video\[([0-9a-f-]{36})\] received")


def taken_in_order(worker: live.LiveProcess, expected: int, timeout: float = 120) -> list[str]:
    """Celery task ids in the order the worker took them from the broker."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        taken = RECEIVED.findall(worker.log_path.read_text(errors="replace"))
        if len(taken) >= expected:
            return taken
        time.sleep(0.2)
    raise AssertionError(f"the worker took fewer than {expected} tasks:\n{worker.log_tail()}")


def test_an_urgent_run_queued_behind_twenty_normal_ones_starts_next():
    spare = live.spare_broker_db()
    broker_url = f"{settings.REDIS_URL}/{spare}"
    redis.Redis.from_url(broker_url).flushdb()
    # Runs of finished videos: the worker takes each message and ends it at once, so the test is
    # about the order the queue hands them out, not about detection.
    normal = [
        ProcessingJobFactory(video=VideoFactory(workflow_state="completed"), status=JobStatus.QUEUED) for _ in range(20)
    ]
    urgent = ProcessingJobFactory(
        video=VideoFactory(workflow_state="completed"), status=JobStatus.QUEUED, priority=JobPriority.URGENT
    )
    low = ProcessingJobFactory(
        video=VideoFactory(workflow_state="completed"), status=JobStatus.QUEUED, priority=JobPriority.LOW
    )
    task_of = {}
    with app.connection_for_write(url=broker_url) as connection:
        for job in [low, *normal, urgent]:  # as job_enqueue sends them, to the spare broker
            sent = process_video.apply_async(
                args=[str(job.pk)], priority=job_message_priority(job_id=job.pk), connection=connection
            )
            task_of[sent.id] = job.pk

    worker = live.start_celery_worker("priority-worker", queues="inference", extra_env={"CELERY_REDIS_DB": str(spare)})
    try:
        order = [task_of[task_id] for task_id in taken_in_order(worker, expected=22) if task_id in task_of]
    finally:
        worker.stop()
        redis.Redis.from_url(broker_url).flushdb()

    assert order[0] == urgent.pk, "the urgent run was queued last and must be taken first"
    assert order[-1] == low.pk, "the low-priority run was queued first and must be taken last"
    assert set(order[1:-1]) == {job.pk for job in normal}
