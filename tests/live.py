"""Real server and worker processes for end-to-end tests, pointed at the test database."""

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = Path(os.environ.get("TEST_LOG_DIR", ROOT / "var" / "test-logs"))


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_environment() -> dict[str, str]:
    """The test process's configuration, with the test database's real name."""
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "mediaplatform.test_settings"
    env["DATABASE_NAME"] = connection.settings_dict["NAME"]
    env["MEDIA_ROOT"] = str(settings.MEDIA_ROOT)
    env["DATABASE_POOL_MAX_SIZE"] = "4"
    env["PYTHONUNBUFFERED"] = "1"
    # The suite serves media to import (URL imports, media analysis downloads) from HTTP servers on loopback.
    env.setdefault("URL_IMPORT_ALLOWED_NETWORKS", "127.0.0.0/8")
    return env


def spare_broker_db() -> int:
    """A Redis database none of the suite's processes use, for a test whose own worker must be the only one taking
    its messages (the suite's session worker, once started, consumes the shared broker's queues too)."""
    taken = {settings.CELERY_REDIS_DB, settings.CHANNELS_REDIS_DB, settings.CACHE_REDIS_DB}
    return next(db for db in range(15, -1, -1) if db not in taken)


@dataclass
class LiveProcess:
    name: str
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        """SIGKILL: no shutdown, no acknowledgement, no cleanup."""
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_process(name: str, args: list[str], extra_env: dict[str, str] | None = None) -> LiveProcess:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"{name}.log"
    log_file = open(log_path, "w")  # noqa: SIM115 - the child owns it for its lifetime
    env = {**child_environment(), **(extra_env or {})}
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    return LiveProcess(name=name, process=process, log_path=log_path)


def wait_for_port(port: int, live: LiveProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if live.process.poll() is not None:
            raise RuntimeError(f"{live.name} exited early:\n{live.log_tail()}")
        with closing(socket.socket()) as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{live.name} did not listen on {port} within {timeout}s:\n{live.log_tail()}")


def wait_for_log(live: LiveProcess, needle: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if live.process.poll() is not None:
            raise RuntimeError(f"{live.name} exited early:\n{live.log_tail()}")
        if needle in live.log_path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{live.name} did not report {needle!r} within {timeout}s:\n{live.log_tail()}")


def start_web(name: str = "web", *, extra_env: dict[str, str] | None = None) -> tuple[LiveProcess, int]:
    """The platform's web front as `make run` serves it (mediaplatform.serve: nginx, gunicorn, Daphne)."""
    port = free_port()
    live = start_process(name, [sys.executable, "-m", "mediaplatform.serve", "--port", str(port)], extra_env=extra_env)
    try:
        wait_for_port(port, live)
    except BaseException:
        live.stop()
        raise
    return live, port


def start_celery_worker(
    name: str = "worker", *, queues: str = "default,inference", extra_env: dict[str, str] | None = None
) -> LiveProcess:
    args = [sys.executable, "-m", "celery", "-A", "mediaplatform", "worker", "-Q", queues]
    args += ["--pool", "solo", "--concurrency", "1", "--without-gossip", "--without-mingle"]
    args += ["--loglevel", "INFO", "--hostname", f"{name}@%h"]
    live = start_process(name, args, extra_env=extra_env)
    wait_for_log(live, "ready.")
    return live
