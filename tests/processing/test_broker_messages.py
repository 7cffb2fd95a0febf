"""Reading what the Redis broker holds, for the stuck-job sweep: every priority's list, on a private queue."""

import uuid

from mediaplatform.celery import app
from processing.services.sweeps import PROCESS_VIDEO_TASK, _redis_broker_raw_messages, process_video_job_id


def test_messages_of_every_priority_are_found_in_the_queue_they_wait_in():
    queue = f"sweep-test-{uuid.uuid4().hex}"  # no worker consumes it, so the messages stay put
    job_ids = {priority: str(uuid.uuid4()) for priority in (0, 5, 9)}
    for priority, job_id in job_ids.items():
        app.send_task(PROCESS_VIDEO_TASK, args=[job_id], queue=queue, priority=priority)
    try:
        with app.connection_for_read() as connection:
            raw_messages = _redis_broker_raw_messages(connection, {queue})
    finally:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_delete(queue)
    assert sorted(map(process_video_job_id, raw_messages)) == sorted(job_ids.values())


def test_a_message_of_another_task_carries_no_job():
    queue = f"sweep-test-{uuid.uuid4().hex}"
    app.send_task("processing.tasks.requeue_stuck_jobs", queue=queue)
    try:
        with app.connection_for_read() as connection:
            raw_messages = _redis_broker_raw_messages(connection, {queue})
    finally:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_delete(queue)
    assert len(raw_messages) == 1
    assert process_video_job_id(raw_messages[0]) is None
