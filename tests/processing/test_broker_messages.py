"""Reading what the Redis broker holds, for the stuck-job sweep: every priority's list, on a private queue."""

import json
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
    # The list also holds what workers have taken and not yet acknowledged, from any queue: ours must be there.
    assert set(job_ids.values()) <= set(map(process_video_job_id, raw_messages))


def test_a_message_of_another_task_carries_no_job():
    queue = f"sweep-test-{uuid.uuid4().hex}"
    sent = app.send_task("processing.tasks.requeue_stuck_jobs", queue=queue)
    try:
        with app.connection_for_read() as connection:
            raw_messages = _redis_broker_raw_messages(connection, {queue})
    finally:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_delete(queue)
    ours = [message for message in raw_messages if _message_id(message) == sent.id]
    assert len(ours) == 1
    assert process_video_job_id(ours[0]) is None


def _message_id(raw) -> str:
    message = raw if isinstance(raw, dict) else json.loads(raw)
    return (message.get("headers") or {}).get("id", "")
