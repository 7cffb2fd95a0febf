"""`/metrics` in Prometheus' text format, served from one prometheus-client registry.

The apps own their figures: each registers a collector (videos.metrics, processing.metrics,
notifications.metrics) in its AppConfig.ready. Collectors read the truth from the database and the broker at
scrape time, so every server process reports the same figures and nothing is lost across restarts.
"""

import hmac
import logging

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

METRIC_PREFIX = "mediaplatform_"

# No auto-describe: registering a collector never runs its queries (the apps register theirs at start-up).
registry = CollectorRegistry(auto_describe=False)
_registered: set[type] = set()


def register(collector: Collector) -> None:
    """Add an app's collector once per process, however often its AppConfig.ready runs."""
    if type(collector) in _registered:
        return
    _registered.add(type(collector))
    registry.register(collector)


def render_metrics() -> str:
    return generate_latest(registry).decode()


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
    return HttpResponse(render_metrics(), content_type=CONTENT_TYPE_PLAIN_0_0_4)
