"""Processing's figures for /metrics: Celery queues, jobs and errors (registered in ProcessingConfig.ready)."""

import redis
from django.conf import settings
from django.db.models import Count, Sum
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from mediaplatform.metrics import METRIC_PREFIX
from processing.models import BROKER_PRIORITIES, JobPriority, JobStatus, ProcessingErrorLog, ProcessingJob

QUEUES = ("inference", "default")
# kombu's Redis transport keeps a queue's messages of priority step N > 0 in a list named queue + sep + N.
KOMBU_PRIORITY_SEPARATOR = "\x06\x16"


def queue_depths_by_priority() -> dict[tuple[str, str], int]:
    """Messages waiting in each Celery queue per run priority (a message sent without one counts as urgent,
    the step kombu serves first)."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2)
    try:
        pipe = client.pipeline()
        keys = [
            (queue, priority, f"{queue}{KOMBU_PRIORITY_SEPARATOR}{step}" if step else queue)
            for queue in QUEUES
            for priority, step in BROKER_PRIORITIES.items()
        ]
        for _queue, _priority, key in keys:
            pipe.llen(key)
        return {
            (queue, str(priority)): waiting
            for (queue, priority, _key), waiting in zip(keys, pipe.execute(), strict=True)
        }
    finally:
        client.close()


def queue_depths() -> dict[str, int]:
    """Messages waiting in each Celery queue, every priority together."""
    totals = dict.fromkeys(QUEUES, 0)
    for (queue, _priority), waiting in queue_depths_by_priority().items():
        totals[queue] += waiting
    return totals


class ProcessingCollector:
    def collect(self):
        by_priority = queue_depths_by_priority()
        depth = GaugeMetricFamily(
            f"{METRIC_PREFIX}queue_depth", "Tasks waiting in each Celery queue.", labels=["queue"]
        )
        totals = dict.fromkeys(QUEUES, 0)
        for (queue, _priority), waiting in by_priority.items():
            totals[queue] += waiting
        for queue, waiting in totals.items():
            depth.add_metric([queue], float(waiting))
        yield depth
        depth_per_priority = GaugeMetricFamily(
            f"{METRIC_PREFIX}queue_depth_by_priority",
            "Tasks waiting in each Celery queue, per run priority.",
            labels=["queue", "priority"],
        )
        for (queue, priority), waiting in by_priority.items():
            depth_per_priority.add_metric([queue, priority], float(waiting))
        yield depth_per_priority

        waiting_runs = dict(
            ProcessingJob.objects.filter(status__in=(JobStatus.QUEUED, JobStatus.RETRYING))
            .values_list("priority")
            .annotate(n=Count("id"))
        )
        runs_waiting = GaugeMetricFamily(
            f"{METRIC_PREFIX}jobs_waiting", "Runs waiting for a worker, per priority.", labels=["priority"]
        )
        for priority in JobPriority.values:
            runs_waiting.add_metric([priority], float(waiting_runs.get(priority, 0)))
        yield runs_waiting

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
