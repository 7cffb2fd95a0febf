"""Liveness and readiness, judged component by component (database, Redis, workers, disk, media store, weights):
each healthy below 100 ms (80 % disk), degraded up to 500 ms (90 %).

Each component is healthy, degraded or unhealthy; the platform is as bad as
its worst component. Readiness answers 200 when healthy or degraded, 503
when unhealthy, so a load balancer stops sending traffic only when it must.
"""

import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"
_RANK = {HEALTHY: 0, DEGRADED: 1, UNHEALTHY: 2}
STARTED_AT = time.time()


@dataclass
class ComponentHealth:
    status: str
    response_time_ms: float | None = None
    detail: str = ""

    def as_dict(self) -> dict:
        body = {"status": self.status}
        if self.response_time_ms is not None:
            body["response_time_ms"] = round(self.response_time_ms, 2)
        if self.detail:
            body["detail"] = self.detail
        return body


def by_response_time(milliseconds: float) -> str:
    if milliseconds < 100:
        return HEALTHY
    return DEGRADED if milliseconds <= 500 else UNHEALTHY


def by_disk_usage(percent: float) -> str:
    if percent < 80:
        return HEALTHY
    return DEGRADED if percent <= 90 else UNHEALTHY


def _timed(probe: Callable[[], str | None]) -> ComponentHealth:
    started = time.perf_counter()
    try:
        detail = probe() or ""
    except Exception as exc:  # any failure to answer is the finding
        return ComponentHealth(UNHEALTHY, (time.perf_counter() - started) * 1000, f"{type(exc).__name__}: {exc}")
    elapsed = (time.perf_counter() - started) * 1000
    return ComponentHealth(by_response_time(elapsed), elapsed, detail)


def check_database() -> ComponentHealth:
    def probe():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    return _timed(probe)


def check_redis() -> ComponentHealth:
    import redis

    def probe():
        client = redis.Redis.from_url(f"{settings.REDIS_URL}/{settings.CHANNELS_REDIS_DB}", socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()

    return _timed(probe)


def check_broker() -> ComponentHealth:
    from mediaplatform.celery import app

    def probe():
        with app.connection_for_read() as broker:
            broker.ensure_connection(max_retries=1, timeout=2)

    return _timed(probe)


def check_channel_layer() -> ComponentHealth:
    layer = get_channel_layer()

    async def round_trip():
        group = f"health.{uuid.uuid4().hex}"
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        try:
            await layer.group_send(group, {"type": "health.check"})
            await layer.receive(channel)
        finally:
            await layer.group_discard(group, channel)

    return _timed(lambda: async_to_sync(round_trip)())


def check_disk() -> ComponentHealth:
    """The disk this host fills: MEDIA_ROOT's with media on the filesystem; with media in an object store, the
    one resumable uploads are staged on (all that is left of them here)."""
    from videos import media_store

    root = Path(settings.UPLOAD_STAGING_DIR if media_store.uses_object_store() else settings.MEDIA_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    usage = shutil.disk_usage(root)
    percent = 100 * usage.used / usage.total
    return ComponentHealth(
        by_disk_usage(percent), None, f"{percent:.1f}% used, {usage.free / 1024**3:.1f} GiB free at {root}"
    )


def check_media_store() -> ComponentHealth:
    """Whether media can be stored: the object store answers for its bucket, or MEDIA_ROOT is a writable folder.

    Only a store that does not answer is unhealthy. A slow one is degraded at worst: a remote store's round trip
    (and a process's first one, which builds its client) may well pass 500 ms, and taking the web front out of
    the load balancer for it would refuse the pages that do not touch media too.
    """
    from videos import media_store

    started = time.perf_counter()
    reachable, detail = media_store.check_reachable()
    elapsed = (time.perf_counter() - started) * 1000
    if not reachable:
        return ComponentHealth(UNHEALTHY, elapsed, f"{media_store.backend_label()}: {detail}")
    return ComponentHealth(HEALTHY if elapsed < 100 else DEGRADED, elapsed, f"{media_store.backend_label()}: {detail}")


# The platform's own components; the apps add theirs (processing: workers, model) in their AppConfig.ready.
CHECKS: dict[str, Callable[[], ComponentHealth]] = {
    "database": check_database,
    "redis": check_redis,
    "broker": check_broker,
    "channel_layer": check_channel_layer,
    "disk": check_disk,
    "media_store": check_media_store,
}


def register_check(name: str, check: Callable[[], ComponentHealth]) -> None:
    CHECKS[name] = check


# Figures the apps add to the readiness body next to the components (processing: database pool, alert
# thresholds); a figure that cannot be read is reported as its error, never fails readiness.
DETAILS: dict[str, Callable[[], dict]] = {}


def register_detail(name: str, read: Callable[[], dict]) -> None:
    DETAILS[name] = read


def _detail(read: Callable[[], dict]) -> dict:
    try:
        return read()
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def _checked(check: Callable[[], ComponentHealth]) -> ComponentHealth:
    # A check that fails outside its own guard is unhealthy too: readiness must answer 503, never 500.
    try:
        return check()
    except Exception as exc:
        return ComponentHealth(UNHEALTHY, None, f"{type(exc).__name__}: {exc}")


def readiness_report() -> tuple[str, dict[str, ComponentHealth]]:
    components = {name: _checked(check) for name, check in CHECKS.items()}
    overall = max((component.status for component in components.values()), key=_RANK.__getitem__)
    return overall, components


@never_cache
@require_GET
def live(request):
    return JsonResponse({"status": "alive", "uptime_seconds": round(time.time() - STARTED_AT, 1)})


@never_cache
@require_GET
def ready(request):
    overall, components = readiness_report()
    body = {
        "status": overall,
        "version": settings.PLATFORM_VERSION,
        "timestamp": timezone.now().isoformat(),
        "uptime_seconds": round(time.time() - STARTED_AT, 1),
        "components": {name: component.as_dict() for name, component in components.items()},
        **{name: _detail(read) for name, read in DETAILS.items()},
    }
    return JsonResponse(body, status=503 if overall == UNHEALTHY else 200)
