"""Running a job in the test process the way a worker would."""

import time

from processing.models import JobStatus, ProcessingJob
from processing.services.pipeline import job_run

FINISHED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


def settle(job_id, *, timeout: float = 300) -> ProcessingJob:
    """Run the job, retries included, until it finishes.

    When a live worker of the suite holds the job (its run lock), wait for that
    worker instead: one of them runs it, never both.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = ProcessingJob.objects.get(pk=job_id)
        if job.status in FINISHED:
            return job
        outcome = job_run(job_id=job_id)
        if outcome is None and ProcessingJob.objects.get(pk=job_id).status not in FINISHED:
            time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish within {timeout}s")
