"""Runs as a queue: how soon a waiting run starts, and removing a finished run that is no longer wanted."""

import logging

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from audit.services import audit_record
from mediaplatform.service_errors import ServiceError
from mediaplatform.transactions import atomic_retrying_conflicts
from processing.models import Detection, JobPriority, JobStatus, ProcessingJob
from processing.selectors import video_result_job
from processing.services.jobs import ACTIVE_JOB_STATUSES, JobRefused, job_enqueue
from processing.services.locking import job_lock

logger = logging.getLogger(__name__)

WAITING_STATUSES = (JobStatus.QUEUED, JobStatus.RETRYING)


@atomic_retrying_conflicts
def job_set_priority(*, job_id, priority: str, actor: AbstractBaseUser | None = None) -> ProcessingJob:
    """Give a run another priority. A run still waiting is sent again with it, so it moves in the queue now.

    The message already queued stays where it is; whichever copy a worker takes first runs the job and
    the other finds it taken or finished (running a job is idempotent), so the worst case is one
    redundant message, never a second run.
    """
    if priority not in JobPriority.values:
        message = f"priority must be one of {', '.join(JobPriority.values)}."
        raise ServiceError(message, details={"priority": [message]})
    job = job_lock(job_id=job_id).job(job_id)
    if job.priority == priority:
        return job
    old_priority = job.priority
    job.priority = priority
    job.save(update_fields=["priority", "updated_at"])
    audit_record(
        action="job.set_priority",
        obj=job,
        actor=actor,
        old_values={"priority": old_priority},
        new_values={"priority": priority},
    )
    if job.status == JobStatus.QUEUED:
        transaction.on_commit(lambda: job_enqueue(job_id=job.pk))
    return job


@atomic_retrying_conflicts
def job_delete(*, job_id, actor: AbstractBaseUser | None = None) -> None:
    """Delete a finished run and its detections.

    Refused while the run is active (cancel it first), and for the run whose detections stand for its video
    (its ground truth, else the latest completed run): deleting those would change what the video shows.
    """
    locked = job_lock(job_id=job_id)
    job = locked.job(job_id)
    if job.status in ACTIVE_JOB_STATUSES:
        raise JobRefused(
            "This run is still in progress: cancel it before deleting it.", state=job.status, allowed=["cancel"]
        )
    if job.is_ground_truth:
        raise JobRefused(
            "This run is the video's ground truth: mark another run as ground truth before deleting it.",
            state=job.status,
            allowed=[],
        )
    result = video_result_job(video=locked.video)
    if result is not None and result.pk == job.pk:
        raise JobRefused(
            "This run holds the video's results: run the video again or delete the video instead.",
            state=job.status,
            allowed=[],
        )
    # A queryset delete of a model nothing references and no signal watches runs as one DELETE statement,
    # not a fetch of every box first.
    detections_deleted = Detection.objects.filter(job_id=job.pk).delete()[0]
    values = {
        "video_id": str(job.video_id),
        "model_name": job.model_name,
        "status": job.status,
        "detections_count": job.detections_count,
    }
    audit_record(
        action="job.delete",
        obj=job,
        actor=actor,
        old_values=values,
        new_values={"detections_deleted": detections_deleted},
    )
    job.delete()
    logger.info("run %s of video %s deleted with %d detections", job_id, values["video_id"], detections_deleted)
