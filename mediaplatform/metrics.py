"""`/metrics` in Prometheus' text format, computed from the database and the broker at scrape time.

Reading the truth at scrape time means every server process reports the
same figures and nothing is lost across restarts.
"""

import hmac
import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Avg, Count, F, Sum
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from notifications.models import OutboxEvent
from processing.models import JobStatus, ProcessingErrorLog, ProcessingJob
from videos.models import Video, WorkflowState

logger = logging.getLogger(__name__)

QUEUES = ("inference", "default")


class Exposition:
    def __init__(self):
        self.lines: list[str] = []

    def metric(self, name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> None:
        full = f"mediaplatform_{name}"
        self.lines.append(f"# HELP {full} {help_text}")
        self.lines.append(f"# TYPE {full} {kind}")
        for labels, value in samples:
            rendered = ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items())
            self.lines.append(f"{full}{{{rendered}}} {value}" if rendered else f"{full} {value}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _queue_depths() -> list[tuple[dict[str, str], float]]:
    import redis

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2)
    try:
        return [({"queue": queue}, float(client.llen(queue))) for queue in QUEUES]
    finally:
        client.close()


def render_metrics() -> str:
    out = Exposition()
    per_state = dict(
        Video.objects.filter(deleted_at__isnull=True).values_list("workflow_state").annotate(n=Count("id"))
    )
    out.metric(
        "videos",
        "gauge",
        "Videos by workflow state.",
        [({"state": state}, float(per_state.get(state, 0))) for state in WorkflowState.values],
    )
    out.metric("queue_depth", "gauge", "Tasks waiting in each Celery queue.", _queue_depths())

    running = ProcessingJob.objects.filter(status=JobStatus.RUNNING)
    totals = running.aggregate(jobs=Count("id"), fps=Sum("frames_per_second"))
    out.metric("jobs_running", "gauge", "Processing jobs running now.", [({}, float(totals["jobs"] or 0))])
    out.metric(
        "frames_per_second",
        "gauge",
        "Frames per second processed by all running jobs.",
        [({}, round(float(totals["fps"] or 0), 3))],
    )
    per_job_status = dict(ProcessingJob.objects.values_list("status").annotate(n=Count("id")))
    out.metric(
        "jobs",
        "gauge",
        "Processing jobs by status.",
        [({"status": status}, float(per_job_status.get(status, 0))) for status in JobStatus.values],
    )

    errors = dict(ProcessingErrorLog.objects.values_list("error_type").annotate(n=Count("id")))
    out.metric(
        "errors_total",
        "counter",
        "Processing errors recorded, by type.",
        [({"error_type": kind}, float(count)) for kind, count in sorted(errors.items())],
    )

    backlog = dict(OutboxEvent.objects.values_list("status").annotate(n=Count("id")))
    out.metric(
        "outbox_events",
        "gauge",
        "Outbox events by delivery status.",
        [({"status": status}, float(count)) for status, count in sorted(backlog.items())],
    )
    recent = OutboxEvent.objects.filter(sent_at__gte=timezone.now() - timedelta(minutes=5), sent_at__isnull=False)
    latency = recent.aggregate(avg=Avg(F("sent_at") - F("created_at")))["avg"]
    out.metric(
        "event_delivery_latency_seconds",
        "gauge",
        "Mean time from an event's commit to its delivery to the channel layer, last 5 minutes.",
        [({}, round(latency.total_seconds(), 6) if latency else 0.0)],
    )
    return out.text()


def _refusal(status: int, code: str, message: str, **headers: str) -> JsonResponse:
    logger.warning("metrics refused (%s): %s", status, message)
    return JsonResponse({"error": {"code": code, "message": message, "details": {}}}, status=status, headers=headers)


@never_cache
@require_GET
def metrics(request):
    """Closed unless configured: METRICS_TOKEN asks for `Authorization: Bearer <token>`; without one, only
    METRICS_PUBLIC opens it (the figures tell anyone how busy the platform is and what fails in it)."""
    token = settings.METRICS_TOKEN
    if token:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(supplied.encode(), token.encode()):
            return _refusal(
                401,
                "not_authenticated",
                "/metrics needs 'Authorization: Bearer <METRICS_TOKEN>'.",
                **{"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    elif not settings.METRICS_PUBLIC:
        return _refusal(
            403,
            "metrics_not_configured",
            "/metrics is closed: set METRICS_TOKEN and scrape with 'Authorization: Bearer <token>', "
            "or set METRICS_PUBLIC=1 to serve it to anyone.",
        )
    return HttpResponse(render_metrics(), content_type="text/plain; version=0.0.4; charset=utf-8")
