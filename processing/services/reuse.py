"""Recognising identical content by SHA-256 and reusing a finished run's detections."""

from django.db import connection

from mediaplatform.sql import sql_column, sql_table
from processing.models import Detection, JobStatus, ProcessingJob

_SAME_RUN_FIELDS = ("model_name", "frame_step", "start_frame", "end_frame", "max_fps", "track", "classes", "confidence")


def reusable_job_find(*, job: ProcessingJob) -> ProcessingJob | None:
    """A completed run, by the same owner, on a file with the same hash, with the same model and settings."""
    video = job.video
    if not video.file_hash:
        return None
    candidates = ProcessingJob.objects.filter(
        status=JobStatus.COMPLETED,
        video__owner_id=video.owner_id,
        video__file_hash=video.file_hash,
        config=job.config,
        **{field: getattr(job, field) for field in _SAME_RUN_FIELDS},
    ).exclude(pk=job.pk)
    return candidates.select_related("video").order_by("-finished_at").first()


def detections_copy(*, source_job_id, target_job_id) -> int:
    """Copy every detection of one run to another in a single INSERT ... SELECT."""
    table, job = sql_table(Detection), sql_column(Detection, "job")
    # Every column but the id and the job, whatever fields Detection gains.
    columns = ", ".join(
        sql_column(Detection, field.name)
        for field in Detection._meta.concrete_fields
        if not field.primary_key and field.name != "job"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({job}, {columns}) SELECT %s, {columns} FROM {table} WHERE {job} = %s",
            [target_job_id, source_job_id],
        )
        return cursor.rowcount
