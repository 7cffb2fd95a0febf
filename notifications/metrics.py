"""The outbox's figures for /metrics (registered in NotificationsConfig.ready)."""

from datetime import timedelta

from django.db.models import Avg, Count, F
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from mediaplatform.metrics import METRIC_PREFIX
from notifications.models import OutboxEvent

LATENCY_WINDOW = timedelta(minutes=5)


class OutboxCollector:
    def collect(self):
        per_status = dict(OutboxEvent.objects.values_list("status").annotate(n=Count("id")))
        backlog = GaugeMetricFamily(
            f"{METRIC_PREFIX}outbox_events", "Outbox events by delivery status.", labels=["status"]
        )
        for status, count in sorted(per_status.items()):
            backlog.add_metric([status], float(count))
        yield backlog

        recent = OutboxEvent.objects.filter(sent_at__gte=timezone.now() - LATENCY_WINDOW, sent_at__isnull=False)
        latency = recent.aggregate(avg=Avg(F("sent_at") - F("created_at")))["avg"]
        yield GaugeMetricFamily(
            f"{METRIC_PREFIX}event_delivery_latency_seconds",
            "Mean time from an event's commit to its delivery to the channel layer, last 5 minutes.",
            value=round(latency.total_seconds(), 6) if latency else 0.0,
        )
