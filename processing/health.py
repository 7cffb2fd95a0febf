"""Processing's components of /health/ready (registered in ProcessingConfig.ready): the Celery workers that
run the pipeline, and the detector's weights."""

import time
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from mediaplatform.celery import app
from mediaplatform.health import DEGRADED, HEALTHY, UNHEALTHY, ComponentHealth
from processing.models import JobStatus, ProcessingJob


def check_workers() -> ComponentHealth:
    started = time.perf_counter()
    try:
        replies = app.control.ping(timeout=settings.HEALTH_WORKER_PING_TIMEOUT_SECONDS) or []
    except Exception as exc:
        return ComponentHealth(UNHEALTHY, None, f"{type(exc).__name__}: {exc}")
    elapsed = (time.perf_counter() - started) * 1000
    names = sorted(name for reply in replies for name in reply)
    if names:
        return ComponentHealth(HEALTHY, elapsed, ", ".join(names))
    # A solo-pool worker deep in a video cannot answer a ping; a fresh job heartbeat proves it lives.
    recent = timezone.now() - timezone.timedelta(seconds=settings.HEALTH_WORKER_PING_TIMEOUT_SECONDS + 30)
    try:
        busy = ProcessingJob.objects.filter(status=JobStatus.RUNNING, heartbeat_at__gte=recent).exists()
    except DatabaseError as exc:
        # The database is down too (its own check says so); the workers' state is unknown.
        return ComponentHealth(UNHEALTHY, elapsed, f"no worker answered; heartbeats unreadable: {exc}")
    if busy:
        return ComponentHealth(DEGRADED, elapsed, "no worker answered the ping, but a running job's heartbeat is fresh")
    return ComponentHealth(UNHEALTHY, elapsed, "no worker answered")


def check_model() -> ComponentHealth:
    if not settings.DETECTOR_WEIGHTS:
        return ComponentHealth(DEGRADED, None, f"no weights configured: the untrained {settings.DETECTOR_ARCHITECTURE}")
    path = Path(settings.DETECTOR_WEIGHTS)
    if not path.is_file():
        return ComponentHealth(UNHEALTHY, None, f"weights missing at {path}")
    return ComponentHealth(HEALTHY, None, f"{path.name}, {path.stat().st_size / 1024**2:.1f} MB")


def database_pool_figures() -> dict:
    """Connections of this process's psycopg pool (in use, idle, max, waiting) when pooling is on, and the
    database's own count from pg_stat_activity (every process of the platform) either way."""
    figures: dict = {}
    pool = connection.pool
    if pool is not None:
        stats = pool.get_stats()
        size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
        figures["pool"] = {
            "in_use": size - idle,
            "idle": idle,
            "max": stats.get("pool_max", 0),
            "waiting": stats.get("requests_waiting", 0),
        }
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE state = 'active'), count(*) FILTER (WHERE state LIKE 'idle%%'),"
            " count(*), current_setting('max_connections')::int"
            " FROM pg_stat_activity WHERE datname = current_database()"
        )
        active, idle, total, max_connections = cursor.fetchone()
    figures["database"] = {"in_use": active, "idle": idle, "total": total, "max": max_connections}
    return figures


def alert_thresholds_summary() -> dict:
    """The error-rate threshold (the one the readiness figures judge), with the window it is measured over."""
    return {
        "error_rate": {
            "warning": settings.ALERT_ERROR_RATE_WARNING,
            "critical": settings.ALERT_ERROR_RATE_CRITICAL,
            "window_seconds": settings.ALERT_WINDOW_SECONDS,
        }
    }
