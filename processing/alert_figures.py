"""The pipeline's figures that alerts watch (notifications.alert_figures) and /metrics exports: one reading, so
the platform's own alerts and Prometheus' rules judge the same numbers."""

import logging
from datetime import timedelta

import redis
from django.conf import settings
from django.db.models import Avg, Count, Exists, F, Min, OuterRef, Q
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from mediaplatform.metrics import METRIC_PREFIX
from notifications.alert_figures import PipelineFigures
from processing.metrics import queue_depths
from processing.models import JobStatus, ProcessingErrorLog, ProcessingJob

logger = logging.getLogger(__name__)


def _queue_backlog() -> int | None:
    try:
        return sum(queue_depths().values())
    except redis.RedisError as exc:
        # The broker down is the health check's finding; the other figures are still worth judging.
        logger.warning("queue backlog unreadable: %s", exc)
        return None


def pipeline_figures_read(*, window_seconds: int) -> PipelineFigures:
    now = timezone.now()
    finished = ProcessingJob.objects.filter(
        status__in=[JobStatus.COMPLETED, JobStatus.FAILED], finished_at__gte=now - timedelta(seconds=window_seconds)
    )
    counts = finished.annotate(had_error=Exists(ProcessingErrorLog.objects.filter(job=OuterRef("pk")))).aggregate(
        total=Count("id"),
        failed=Count("id", filter=Q(status=JobStatus.FAILED)),
        with_errors=Count("id", filter=Q(had_error=True)),
    )
    total = counts["total"]
    mean_run = finished.filter(status=JobStatus.COMPLETED, started_at__isnull=False).aggregate(
        mean=Avg(F("finished_at") - F("started_at"))
    )["mean"]
    oldest_queued = ProcessingJob.objects.filter(status=JobStatus.QUEUED).aggregate(oldest=Min("created_at"))["oldest"]
    return PipelineFigures(
        window_seconds=window_seconds,
        finished_jobs=total,
        failed_rate=counts["failed"] / total if total else 0.0,
        error_rate=counts["with_errors"] / total if total else 0.0,
        queue_backlog=_queue_backlog(),
        queue_age_seconds=max((now - oldest_queued).total_seconds(), 0.0) if oldest_queued else 0.0,
        processing_time_seconds=mean_run.total_seconds() if mean_run else 0.0,
    )


class PipelineFiguresCollector:
    """The figures over ALERT_WINDOW_SECONDS for /metrics; deploy/prometheus/alerts.yml alerts on them."""

    def collect(self):
        figures = pipeline_figures_read(window_seconds=settings.ALERT_WINDOW_SECONDS)
        window = f"over the last ALERT_WINDOW_SECONDS ({figures.window_seconds} s)"
        for name, help_text, value in (
            (
                "alert_window_seconds",
                "The window the rates and processing time are measured over.",
                figures.window_seconds,
            ),
            ("jobs_finished_in_window", f"Jobs completed or failed {window}.", figures.finished_jobs),
            ("processing_failed_ratio", f"Share of the jobs finished {window} that failed.", figures.failed_rate),
            (
                "processing_error_ratio",
                f"Share of the jobs finished {window} that recorded any error, retried ones included.",
                figures.error_rate,
            ),
            (
                "processing_time_seconds",
                f"Mean run time of the jobs completed {window}.",
                figures.processing_time_seconds,
            ),
            ("queue_oldest_age_seconds", "How long the oldest queued job has waited.", figures.queue_age_seconds),
        ):
            yield GaugeMetricFamily(f"{METRIC_PREFIX}{name}", help_text, value=round(float(value), 6))
