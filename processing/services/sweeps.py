"""Finding jobs whose worker died or whose message was lost, and handing them to a live worker.

Failing them after their retries is the recovery matrix's business (failures.py).
"""

import base64
import json
import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from mediaplatform.transactions import atomic_retrying_conflicts
from notifications.models import EventType
from processing.models import JobStatus, ProcessingJob
from processing.services.failures import job_handle_failure
from processing.services.jobs import ACTIVE_JOB_STATUSES, job_enqueue
from processing.services.locking import job_run_lock, video_and_jobs_lock
from videos.models import Video, WorkflowState
from videos.services.transitions import video_transition

logger = logging.getLogger(__name__)

PROCESS_VIDEO_TASK = "processing.tasks.process_video"


class WorkerLost(TimeoutError):
    """A running job's heartbeat stopped: its worker died or hangs."""


def _redis_broker_raw_messages(connection, queues: set[str]) -> list:
    """Every message kombu's Redis transport holds for the queues: waiting in them, or delivered and unacknowledged.

    Neither Celery nor kombu has a public way to list the messages a queue holds (AMQP has no "browse",
    and `inspect().reserved()` sees only what live workers have fetched), so this reads the Redis transport's
    documented layout with redis-py, from the channel's public settings: a queue is a list named after it, one
    more list per priority step above 0 named queue + `sep` + step; a delivered message waits for its
    acknowledgement in the `unacked_key` hash as [message, exchange, routing key]. The channel's own client
    applies any `global_keyprefix`. Kept in this one function so a change of that layout is mended here.
    """
    channel = connection.default_channel
    client = channel.client
    raw_messages = []
    for queue in queues:
        for step in channel.priority_steps:
            raw_messages += client.lrange(f"{queue}{channel.sep}{step}" if step else queue, 0, -1)
    raw_messages += [json.loads(entry)[0] for entry in client.hvals(channel.unacked_key)]
    return raw_messages


def broker_process_video_job_ids() -> set[str] | None:
    """Job ids of the process_video messages the broker still holds: queued, or delivered and not acknowledged.

    None when the broker cannot be read this way (not Redis): then nothing is judged lost.
    A Redis broker that restarted without persistence has forgotten every message, so a
    queued job whose message is in neither place will never be delivered.
    """
    from mediaplatform.celery import app

    queues = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()} | {settings.CELERY_TASK_DEFAULT_QUEUE}
    with app.connection_for_read() as connection:
        if connection.transport.driver_type != "redis":
            return None
        raw_messages = _redis_broker_raw_messages(connection, queues)
    return {job_id for job_id in map(process_video_job_id, raw_messages) if job_id is not None}


def process_video_job_id(raw: bytes | str | dict) -> str | None:
    """The job id a raw broker message carries when it is a process_video task; None for any other message."""
    message = raw if isinstance(raw, dict) else json.loads(raw)  # unacked entries hold it parsed
    if (message.get("headers") or {}).get("task") != PROCESS_VIDEO_TASK:
        return None
    body = message.get("body", "")
    if (message.get("properties") or {}).get("body_encoding") == "base64":
        body = base64.b64decode(body)
    args = json.loads(body)[0]  # Celery's protocol 2 body: [args, kwargs, embed]
    return str(args[0]) if args else None


class _BrokerView:
    """What the broker holds, read once per sweep and only when a waiting job needs it."""

    def __init__(self):
        self._read = False
        self._job_ids: set[str] | None = None

    def job_ids(self) -> set[str] | None:
        if not self._read:
            self._read, self._job_ids = True, broker_process_video_job_ids()
        return self._job_ids


def _decide(*, job_id, stage: str, heartbeat_at, stale_after: float, broker: _BrokerView) -> float | None:
    """Seconds before the job should be queued again (0: now), or None to leave it alone."""
    # Holding the run lock while deciding: a runner cannot start meanwhile, and one that
    # finished between the sweep's query and now has committed its end, which the re-read sees.
    with job_run_lock(job_id=job_id) as owned:
        if not owned:
            return None  # a live runner has it
        status = ProcessingJob.objects.filter(pk=job_id).values_list("status", flat=True).first()
        if status in (JobStatus.QUEUED, JobStatus.RETRYING):
            held = broker.job_ids()
            if held is not None and str(job_id) in held:
                return None  # its message is on its way: waiting behind others is not being lost
            if held is None and status == JobStatus.QUEUED:
                return None  # no way to tell a lost message from a long queue
            return 0
        if status != JobStatus.RUNNING:
            return None  # it finished, failed or was cancelled since the query
        # A silent runner of a cancelled run, or of a deleted video's, ends here as cancelled.
        silent_for = (timezone.now() - heartbeat_at).total_seconds() if heartbeat_at else stale_after
        outcome = job_handle_failure(
            job_id=job_id, stage=stage, exc=WorkerLost(f"No heartbeat from the job's worker for {silent_for:.0f} s.")
        )
        return outcome.retry_in_seconds


def stuck_jobs_requeue(*, stale_after_seconds: float | None = None) -> list:
    """Deal with running jobs whose heartbeat went silent, and waiting jobs whose message never comes.

    A silent job is a timeout in the recovery matrix: an error-log row, a requeue with
    exponential backoff, and `failed` after the last retry. A job still held by a live
    runner is left alone, so racing the worker is harmless. A queued job, or a retry
    whose time has passed, is queued again when the broker no longer holds its message
    (a Redis restart loses them): running a job is idempotent, so a doubt costs one
    redundant message, never a second run.
    """
    stale_after = settings.STUCK_JOB_SECONDS if stale_after_seconds is None else stale_after_seconds
    cutoff = timezone.now() - timedelta(seconds=stale_after)
    candidates = ProcessingJob.objects.filter(
        Q(status=JobStatus.RUNNING, heartbeat_at__lte=cutoff)
        | Q(status=JobStatus.RETRYING, next_retry_at__lte=cutoff)
        | Q(status=JobStatus.QUEUED, created_at__lte=cutoff),
    ).values_list("pk", "status", "current_stage", "heartbeat_at")
    requeued = []
    broker = _BrokerView()
    for job_id, _status, stage, heartbeat_at in candidates:
        countdown = _decide(
            job_id=job_id, stage=stage, heartbeat_at=heartbeat_at, stale_after=stale_after, broker=broker
        )
        if countdown is not None:
            # Queued after the run lock is let go: a worker taking the message at once must find it free.
            job_enqueue(job_id=job_id, countdown=countdown or None)
            requeued.append(job_id)
    if requeued:
        logger.warning("requeued %s stuck job(s): %s", len(requeued), ", ".join(map(str, requeued)))
    live_videos_without_run_fail(stale_after_seconds=stale_after)
    return requeued


def live_videos_without_run_fail(*, stale_after_seconds: float) -> list:
    """Fail videos left validating or processing with no run that could finish them.

    A safety net: every path that ends a run also moves its video, so this finds nothing unless
    a bug or a manual edit left one behind; it logs an error for each one it fails.
    """
    cutoff = timezone.now() - timedelta(seconds=stale_after_seconds)
    candidates = (
        Video.objects.filter(
            workflow_state__in=(WorkflowState.VALIDATING, WorkflowState.PROCESSING), updated_at__lte=cutoff
        )
        .exclude(jobs__status__in=ACTIVE_JOB_STATUSES)
        .values_list("pk", flat=True)
    )
    failed = [video_id for video_id in candidates if _fail_if_still_without_run(video_id=video_id)]
    if failed:
        logger.error("failed %s live video(s) that had no active run: %s", len(failed), ", ".join(map(str, failed)))
    return failed


@atomic_retrying_conflicts
def _fail_if_still_without_run(*, video_id) -> bool:
    locked = video_and_jobs_lock(video_id=video_id, job_filter=Q(status__in=ACTIVE_JOB_STATUSES))
    if locked.jobs or locked.video.workflow_state not in (WorkflowState.VALIDATING, WorkflowState.PROCESSING):
        return False
    video_transition(
        video_id=video_id,
        transition_name="fail",
        reason="Its run ended without finishing the video.",
        event_type=EventType.PROCESSING_FAILED,
        event_data={"error_code": "run_lost", "error_message": "Its run ended without finishing the video."},
        field_updates={"needs_review": True},
    )
    return True
