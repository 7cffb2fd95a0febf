"""Locks around running a job: row locks in one order, and one runner per job.

Row locks: every transaction that locks a video and any of its jobs takes them here, the
video first and then the jobs by id, in the API and the worker alike. Two such transactions
then only ever queue behind each other; a cycle (one holding the job and waiting for the video,
the other the reverse) cannot form. Emitting an event advances the video's sequence with an
UPDATE of the video's row, so a transaction that emits one holds the video's lock as well: it
must take it through here first, before any job row.

Run lock: a PostgreSQL advisory lock held for the whole run, so two workers handed the same
job (a redelivery, the stuck-job sweep) never run it at once.
"""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db.models import Q

from mediaplatform.advisory_locks import AdvisoryLock, advisory_lock_key, advisory_try_lock, advisory_unlock
from processing.models import ProcessingJob
from videos.models import Video
from videos.services.transitions import video_lock


@dataclass(frozen=True)
class LockedVideo:
    """A video and some of its jobs, read fresh under their row locks."""

    video: Video
    jobs: list[ProcessingJob]

    def job(self, job_id) -> ProcessingJob:
        for job in self.jobs:
            if str(job.pk) == str(job_id):
                return job
        raise ProcessingJob.DoesNotExist(f"job {job_id} is not locked here")


def video_and_jobs_lock(*, video_id, job_ids: Iterable | None = None, job_filter: Q | None = None) -> LockedVideo:
    """Lock the video, then the jobs it names (by id, or a filter over its jobs) in id order.

    Call inside a transaction. Raises Video.DoesNotExist when the video is gone.
    """
    video = video_lock(video_id=video_id)
    jobs = ProcessingJob.objects.filter(video_id=video.pk)
    if job_ids is not None:
        jobs = jobs.filter(pk__in=list(job_ids))
    if job_filter is not None:
        jobs = jobs.filter(job_filter)
    return LockedVideo(video=video, jobs=list(jobs.select_for_update(no_key=True).order_by("pk")))


def job_lock(*, job_id) -> LockedVideo:
    """Lock a job and its video, video first. Raises ProcessingJob.DoesNotExist when the job is gone."""
    # A job never moves to another video, so its video id can be read before any lock.
    video_id = ProcessingJob.objects.filter(pk=job_id).values_list("video_id", flat=True).first()
    if video_id is None:
        raise ProcessingJob.DoesNotExist(f"job {job_id} does not exist")
    try:
        locked = video_and_jobs_lock(video_id=video_id, job_ids=[job_id])
    except Video.DoesNotExist:
        raise ProcessingJob.DoesNotExist(f"job {job_id} went with its video") from None
    if not locked.jobs:
        raise ProcessingJob.DoesNotExist(f"job {job_id} was deleted")
    return locked


def lock_key(job_id) -> int:
    """The bigint key of the job's run lock."""
    return advisory_lock_key(AdvisoryLock.JOB_RUN, job_id)


@contextmanager
def job_run_lock(*, job_id) -> Iterator[bool]:
    """Yields True when this process now owns the job's run, False when another does.

    The lock lives with the database session, so a runner killed with SIGKILL
    releases it when its connection drops.
    """
    acquired = advisory_try_lock(AdvisoryLock.JOB_RUN, job_id)
    try:
        yield acquired
    finally:
        if acquired:
            advisory_unlock(AdvisoryLock.JOB_RUN, job_id)
