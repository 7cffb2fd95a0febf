"""A Redis server, Daphne and Celery worker of the test's own, so it may restart Redis without disturbing others."""

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from socket import socket

import pytest

from tests import live


@dataclass
class PrivateRedis:
    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with closing(socket()) as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not listen on {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # with --save "" it keeps nothing: a restart starts empty
            self.process.wait(timeout=15)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass
class PrivateStack:
    redis: PrivateRedis
    server: str


@pytest.fixture
def private_stack(transactional_db, monkeypatch) -> Iterator[PrivateStack]:
    """Daphne and a worker on a Redis server of their own; Redis is stopped again even when the test fails."""
    redis = PrivateRedis(port=live.free_port())
    redis.start()
    monkeypatch.setenv("REDIS_URL", redis.url)
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    started: list[live.LiveProcess] = []
    try:
        port = live.free_port()
        daphne = live.start_process(
            "daphne-private-redis",
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "mediaplatform.asgi:application"],
        )
        started.append(daphne)
        live.wait_for_port(port, daphne)
        started.append(live.start_celery_worker(name="worker-private-redis"))
        yield PrivateStack(redis=redis, server=f"127.0.0.1:{port}")
    finally:
        for process in reversed(started):
            process.stop()
        redis.stop()
