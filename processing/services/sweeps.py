"""Finding jobs whose worker died and handing them to a live one, or failing them after their retries."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from processing.models import JobStatus, ProcessingJob
from processing.services.failures import job_handle_failure
from processing.services.jobs import job_enqueue
from processing.services.locking import job_is_being_run

logger = logging.getLogger(__name__)


class WorkerLost(TimeoutError):
    """A running job's heartbeat stopped: its worker died or hangs."""


def stuck_jobs_requeue(*, stale_after_seconds: float | None = None) -> list:
    """Deal with running jobs whose heartbeat went silent, and retries whose message never came back.

    A silent job is a timeout in the recovery matrix: an error-log row, a requeue with
    exponential backoff, and `failed` after the last retry. A job still held by a live
    runner is left alone, so racing the worker is harmless.
    """
    stale_after = settings.STUCK_JOB_SECONDS if stale_after_seconds is None else stale_after_seconds
    cutoff = timezone.now() - timedelta(seconds=stale_after)
    candidates = ProcessingJob.objects.filter(
        Q(status=JobStatus.RUNNING, heartbeat_at__lte=cutoff) | Q(status=JobStatus.RETRYING, next_retry_at__lte=cutoff),
        cancel_requested_at__isnull=True,
    ).values_list("pk", "status", "current_stage", "heartbeat_at")
    requeued = []
    for job_id, status, stage, heartbeat_at in candidates:
        if job_is_being_run(job_id=job_id):
            continue
        if status == JobStatus.RETRYING:
            job_enqueue(job_id=job_id)  # its retry message was lost (e.g. the broker restarted)
            requeued.append(job_id)
            continue
        silent_for = (timezone.now() - heartbeat_at).total_seconds() if heartbeat_at else stale_after
        outcome = job_handle_failure(
            job_id=job_id, stage=stage, exc=WorkerLost(f"No heartbeat from the job's worker for {silent_for:.0f} s.")
        )
        if outcome.retry_in_seconds is not None:
            job_enqueue(job_id=job_id, countdown=outcome.retry_in_seconds)
            requeued.append(job_id)
    if requeued:
        logger.warning("requeued %s stuck job(s): %s", len(requeued), ", ".join(map(str, requeued)))
    return requeued
