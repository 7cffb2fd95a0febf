"""Reads over runs across videos: the run queue, usage per user and storage figures for staff."""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Q, QuerySet, Sum

from audit.models import StorageOperation
from processing.models import ProcessingJob
from videos.models import Video


@dataclass(frozen=True)
class JobListFilters:
    status: str | None = None
    origin: str | None = None
    model: str | None = None
    priority: str | None = None
    video_id: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


def job_list_for_user(*, user: AbstractBaseUser, filters: JobListFilters) -> QuerySet[ProcessingJob]:
    """Runs and imported references across the videos the user may see (every video for staff), newest first.

    Runs of deleted videos are left out, as their videos are.
    """
    jobs = ProcessingJob.objects.visible_to(user).filter(video__deleted_at__isnull=True)
    if filters.status:
        jobs = jobs.filter(status=filters.status)
    if filters.origin:
        jobs = jobs.filter(origin=filters.origin)
    if filters.model:
        jobs = jobs.filter(model_name=filters.model)
    if filters.priority:
        jobs = jobs.filter(priority=filters.priority)
    if filters.video_id:
        jobs = jobs.filter(video_id=filters.video_id)
    if filters.created_after:
        jobs = jobs.filter(created_at__gte=filters.created_after)
    if filters.created_before:
        jobs = jobs.filter(created_at__lt=filters.created_before)
    return jobs.prefetch_related("stages").order_by("-created_at", "-id")


@dataclass(frozen=True)
class Usage:
    user_id: int
    username: str
    videos: int
    bytes_stored: int
    processing_seconds: float
    runs: int
    detections: int


def _usage_rows(*, users: QuerySet, since: datetime | None, until: datetime | None) -> list[Usage]:
    video_range = Q(videos__deleted_at__isnull=True)
    if since:
        video_range &= Q(videos__created_at__gte=since)
    if until:
        video_range &= Q(videos__created_at__lt=until)
    job_range = Q(videos__jobs__origin="run", videos__jobs__finished_at__isnull=False)
    if since:
        job_range &= Q(videos__jobs__finished_at__gte=since)
    if until:
        job_range &= Q(videos__jobs__finished_at__lt=until)
    # Two aggregates over different joins would multiply each other's rows: videos and runs are summed apart.
    videos = dict(
        (row["pk"], row)
        for row in users.annotate(
            video_count=Count("videos", filter=video_range),
            bytes_stored=Sum("videos__size_bytes", filter=video_range),
        ).values("pk", "username", "video_count", "bytes_stored")
    )
    runtime = ExpressionWrapper(
        F("videos__jobs__finished_at") - F("videos__jobs__started_at"), output_field=DurationField()
    )
    runs = dict(
        (row["pk"], row)
        for row in users.annotate(
            run_count=Count("videos__jobs", filter=job_range),
            processing=Sum(runtime, filter=job_range & Q(videos__jobs__started_at__isnull=False)),
            detection_count=Sum("videos__jobs__detections_count", filter=job_range),
        ).values("pk", "run_count", "processing", "detection_count")
    )
    rows = []
    for pk, row in videos.items():
        run = runs.get(pk, {})
        processing = run.get("processing")
        rows.append(
            Usage(
                user_id=pk,
                username=row["username"],
                videos=row["video_count"] or 0,
                bytes_stored=int(row["bytes_stored"] or 0),
                processing_seconds=round(processing.total_seconds(), 3) if processing else 0.0,
                runs=run.get("run_count") or 0,
                detections=int(run.get("detection_count") or 0),
            )
        )
    return sorted(rows, key=lambda usage: usage.username)


def usage_for_user(*, user: AbstractBaseUser, since: datetime | None, until: datetime | None) -> Usage:
    """What one user's videos take: videos uploaded, bytes stored, processing seconds and detections of runs
    that finished in the range (open ends when None)."""
    users = get_user_model().objects.filter(pk=user.pk)
    return _usage_rows(users=users, since=since, until=until)[0]


def usage_for_every_user(*, since: datetime | None, until: datetime | None) -> list[Usage]:
    return _usage_rows(users=get_user_model().objects.all(), since=since, until=until)


SLOWEST_OPERATIONS_SHOWN = 10


def storage_statistics() -> dict:
    """For staff: bytes stored per video state, failed storage operations, and the slowest operations."""
    per_state = (
        Video.objects.filter(deleted_at__isnull=True)
        .values("workflow_state")
        .annotate(videos=Count("id"), bytes=Sum("size_bytes"))
        .order_by("workflow_state")
    )
    operations = StorageOperation.objects.all()
    failed = operations.filter(success=False)
    return {
        "by_state": [
            {"state": row["workflow_state"], "videos": row["videos"], "bytes": int(row["bytes"] or 0)}
            for row in per_state
        ],
        "failed_operations": failed.count(),
        "latest_failure_at": failed.aggregate(at=Max("created_at"))["at"],
        "failed_by_operation": dict(failed.values_list("operation").annotate(n=Count("id")).order_by("operation")),
        "slowest_operations": [
            {
                "operation": op.operation,
                "path": op.path,
                "video_id": op.video_id,
                "size_bytes": op.size_bytes,
                "duration_ms": op.duration_ms,
                "success": op.success,
                "created_at": op.created_at,
            }
            for op in operations.filter(duration_ms__isnull=False).order_by("-duration_ms")[:SLOWEST_OPERATIONS_SHOWN]
        ],
    }
