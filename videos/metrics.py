"""Videos' figures for /metrics (registered in VideosConfig.ready)."""

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily

from mediaplatform.metrics import METRIC_PREFIX
from videos.models import Video, WorkflowState


class VideoCollector:
    def collect(self):
        per_state = dict(
            Video.objects.filter(deleted_at__isnull=True).values_list("workflow_state").annotate(n=Count("id"))
        )
        videos = GaugeMetricFamily(f"{METRIC_PREFIX}videos", "Videos by workflow state.", labels=["state"])
        for state in WorkflowState.values:
            videos.add_metric([state], float(per_state.get(state, 0)))
        yield videos
