"""Reads of runs and their evaluations, as the API shows them."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from processing.models import Evaluation, ProcessingJob
from videos.models import Video


def job_get_for_user(*, user: AbstractBaseUser, job_id) -> ProcessingJob | None:
    """A run of a video the user may see (their own; any for staff), with its stages; None otherwise."""
    jobs = ProcessingJob.objects.visible_to(user).select_related("video").prefetch_related("stages")
    return jobs.filter(pk=job_id, video__deleted_at__isnull=True).first()


def job_list_for_video(*, video: Video, origin: str | None = None) -> QuerySet[ProcessingJob]:
    """The video's runs and imported references (or only those of one origin), newest first."""
    jobs = video.jobs.prefetch_related("stages").order_by("-created_at")
    return jobs if origin is None else jobs.filter(origin=origin)


def evaluation_latest_for_job(*, job: ProcessingJob) -> Evaluation | None:
    return job.evaluations.order_by("-created_at").first()


def evaluation_list_for_video(*, video: Video) -> QuerySet[Evaluation]:
    return Evaluation.objects.filter(job__video=video).order_by("-created_at", "-id")
