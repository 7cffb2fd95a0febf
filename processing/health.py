"""Processing's components of /health/ready (registered in ProcessingConfig.ready): the Celery workers that
run the pipeline, and the detector's weights."""

import time
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError
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
