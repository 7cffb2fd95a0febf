"""Servers of a fault test's own, so it may stop, restart or starve them without disturbing anyone else.

The shared PostgreSQL (5432) and Redis (6379) serve the whole suite and other developers:
a test that restarts a server starts a private one here, on a free loopback port in a
temporary directory, and points its Daphne and worker subprocesses at it. Every helper
is a context manager that stops what it started, even when the test fails.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from socket import socket

import psycopg
import torch

from tests import live

POSTGRES_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))


def wait_until(predicate, *, timeout: float, what: str, logs: list[live.LiveProcess] = ()):
    """Poll until `predicate()` is truthy and return it; fail (never hang) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    tails = "\n".join(f"--- {process.name}:\n{process.log_tail()}" for process in logs)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{tails}")


def _listening(port: int) -> bool:
    with closing(socket()) as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class PrivateRedis:
    """A redis-server without persistence: a restart forgets every key, as a crashed cache server would."""

    port: int = field(default_factory=live.free_port)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mp-redis-")))
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
            + ["--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: _listening(self.port), timeout=30, what=f"redis-server on {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def env(self) -> dict[str, str]:
        """What a child process reads to use this server for broker, channel layer and cache."""
        celery_db = os.environ.get("CELERY_REDIS_DB", "14")
        return {"REDIS_URL": self.url, "CELERY_BROKER_URL": f"{self.url}/{celery_db}"}


@contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.directory, ignore_errors=True)


def _as_postgres_user(args: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; the packaged `postgres` account runs it then.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@dataclass
class PrivatePostgres:
    """A throwaway PostgreSQL cluster (trust authentication, fsync off) on a loopback port."""

    bin_dir: Path
    port: int = field(default_factory=live.free_port)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mp-pg-")))

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def _run(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            _as_postgres_user([str(self.bin_dir / args[0]), *args[1:]]),
            check=True,
            timeout=timeout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.directory, user="postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.directory / "log"), "-w", "start")

    def stop(self) -> None:
        """A fast shutdown: open sessions are cut, as a restart or a crash of the server does to clients."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def connect(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, autocommit=True)

    def query(self, sql: str, params=(), *, dbname: str) -> list[tuple]:
        with self.connect(dbname) as connection:
            return connection.execute(sql, params).fetchall()

    def env(self, dbname: str) -> dict[str, str]:
        return {
            "DATABASE_HOST": "127.0.0.1",
            "DATABASE_PORT": str(self.port),
            "DATABASE_NAME": dbname,
            "DATABASE_USER": "postgres",
            "DATABASE_PASSWORD": "",
        }


def postgres_available() -> bool:
    return bool(POSTGRES_BIN) and (os.geteuid() != 0 or shutil.which("runuser") is not None)


@contextmanager
def private_postgres(dbname: str) -> Iterator[PrivatePostgres]:
    """A running private cluster holding an empty database `dbname`."""
    server = PrivatePostgres(bin_dir=POSTGRES_BIN[-1].parent)
    try:
        server.init()
        server.start()
        with server.connect() as connection:
            connection.execute(f'CREATE DATABASE "{dbname}"')
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(server.directory, ignore_errors=True)


def manage(args: list[str], *, env: dict[str, str], timeout: float = 180) -> str:
    """Run a manage.py command as a child of the suite's configuration plus `env`; returns its output."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=live.ROOT,
        env={**live.child_environment(), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def start_web(name: str, *, env: dict[str, str]) -> tuple[live.LiveProcess, str]:
    web, port = live.start_web(name, extra_env=env)
    return web, f"127.0.0.1:{port}"


@contextmanager
def processes() -> Iterator[list[live.LiveProcess]]:
    """Collects started processes and stops them, last first, whatever happens."""
    started: list[live.LiveProcess] = []
    try:
        yield started
    finally:
        for process in reversed(started):
            process.stop()


@contextmanager
def small_tmpfs(size: str) -> Iterator[Path]:
    """A filesystem of `size` bytes that really fills up (ENOSPC), mounted on a temporary directory."""
    mountpoint = Path(tempfile.mkdtemp(prefix="mp-tmpfs-"))
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)],
            check=True,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        mountpoint.rmdir()
        raise
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False, capture_output=True, timeout=30)
        shutil.rmtree(mountpoint, ignore_errors=True)


def tmpfs_mountable() -> bool:
    try:
        with small_tmpfs("64k"):
            return True
    except (OSError, subprocess.SubprocessError):
        return False


def fill(directory: Path) -> Path:
    """Write until the filesystem refuses; returns the filler, whose removal frees the space again."""
    filler = directory / "filler"
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass
    return filler


def write_exploding_weights(path: Path) -> Path:
    """The suite's seeded untrained YOLOv8n, saved as ultralytics weights that load fine and break on every batch.

    Only ultralytics' and torch's own layer classes load (the loader refuses any other pickled code), so the
    fault is a first layer swapped for an identity: the second convolution then gets 3 channels, not 16.
    """
    from ultralytics import YOLO

    torch.manual_seed(0)
    network = YOLO("yolov8n.yaml", task="detect").model
    passthrough = torch.nn.Identity()
    for attribute in ("f", "i", "type", "np"):  # what ultralytics' forward pass reads from each layer
        setattr(passthrough, attribute, getattr(network.model[0], attribute))
    network.model[0] = passthrough
    torch.save({"model": network, "train_args": {}}, path)
    return path


def write_corrupt_weights(path: Path, *, source: Path) -> Path:
    """The first half of real weights: a download or copy cut short."""
    content = source.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    return path


def send_process_video(broker: PrivateRedis, job_id, *, queue: str = "inference") -> None:
    """Queue a job on a private broker, as the platform's job_enqueue does on its own."""
    from celery import Celery

    app = Celery("fault-test", broker=broker.env()["CELERY_BROKER_URL"], set_as_current=False)
    try:
        app.send_task("processing.tasks.process_video", args=[str(job_id)], queue=queue)
    finally:
        app.close()
