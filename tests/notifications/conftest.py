"""A Redis server, Daphne and Celery worker of the test's own, so it may restart Redis without disturbing others."""

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests import live
from tests.faults import PrivateRedis, private_redis


@dataclass
class PrivateStack:
    redis: PrivateRedis
    server: str


@pytest.fixture
def private_stack(transactional_db, monkeypatch) -> Iterator[PrivateStack]:
    """The web front and a worker on a Redis server of their own; Redis is stopped again even when the test fails."""
    with private_redis() as redis:
        monkeypatch.setenv("REDIS_URL", redis.url)
        monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
        started: list[live.LiveProcess] = []
        try:
            web, port = live.start_web("web-private-redis")
            started.append(web)
            started.append(live.start_celery_worker(name="worker-private-redis"))
            yield PrivateStack(redis=redis, server=f"127.0.0.1:{port}")
        finally:
            for process in reversed(started):
                process.stop()
