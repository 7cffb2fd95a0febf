"""Processing's figures for /metrics: Celery queues, jobs and errors (registered in ProcessingConfig.ready)."""

import redis
from django.conf import settings
from django.db.models import Count, Sum
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from mediaplatform.metrics import METRIC_PREFIX
from processing.models import JobStatus, ProcessingErrorLog, ProcessingJob

QUEUES = ("inference", "default")


def queue_depths() -> dict[str, int]:
    """Messages waiting in each Celery queue: the Redis list kombu keeps under the queue's name."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2)
    try:
        return {queue: client.llen(queue) for queue in QUEUES}
    finally:
        client.close()


class ProcessingCollector:
    def collect(self):
        depth = GaugeMetricFamily(
            f"{METRIC_PREFIX}queue_depth", "Tasks waiting in each Celery queue.", labels=["queue"]
        )
        for queue, waiting in queue_depths().items():
            depth.add_metric([queue], float(waiting))
        yield depth

        totals = ProcessingJob.objects.filter(status=JobStatus.RUNNING).aggregate(
            jobs=Count("id"), fps=Sum("frames_per_second")
        )
        yield GaugeMetricFamily(
            f"{METRIC_PREFIX}jobs_running", "Processing jobs running now.", value=float(totals["jobs"] or 0)
        )
        yield GaugeMetricFamily(
            f"{METRIC_PREFIX}frames_per_second",
            "Frames per second processed by all running jobs.",
            value=round(float(totals["fps"] or 0), 3),
        )

        per_status = dict(ProcessingJob.objects.values_list("status").annotate(n=Count("id")))
        jobs = GaugeMetricFamily(f"{METRIC_PREFIX}jobs", "Processing jobs by status.", labels=["status"])
        for status in JobStatus.values:
            jobs.add_metric([status], float(per_status.get(status, 0)))
        yield jobs

        per_type = dict(ProcessingErrorLog.objects.values_list("error_type").annotate(n=Count("id")))
        errors = CounterMetricFamily(
            f"{METRIC_PREFIX}errors_total", "Processing errors recorded, by type.", labels=["error_type"]
        )
        for error_type, count in sorted(per_type.items()):
            errors.add_metric([error_type], float(count))
        yield errors
