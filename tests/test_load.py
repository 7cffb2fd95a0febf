"""Load: 200 concurrent uploads and 100 dashboard websockets against a real server and worker.

Every upload is accepted (201) or refused with 429 (per-owner back-pressure), never a 5xx; every
accepted video completes; every socket of an owner hears the end of each of that owner's videos and
nothing of anyone else's; each process stays within its database connection pool (the web front's
gunicorn workers and Daphne one pool each).
"""

import asyncio
import json
import threading
import time
from collections import Counter, defaultdict

import httpx
import psycopg
import pytest
from django.db import connection
from websockets.asyncio.client import connect

from tests import live
from tests.event_loops import run_in_own_loop
from tests.factories import TokenFactory
from tests.videofiles import write_test_video
from videos.models import Video

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e, pytest.mark.timeout(900)]

OWNERS = 10
UPLOADS_PER_OWNER = 20
SOCKETS_PER_OWNER = 10
IN_FLIGHT_LIMIT = 8
POOL_SIZE = 4
WEB_WORKERS = 2
PROCESSING_DEADLINE_SECONDS = 600
TERMINAL = {"processing_completed", "processing_failed"}


class ConnectionSampler(threading.Thread):
    """Counts the test database's connections per application name, several times a second."""

    def __init__(self, dsn: str, database: str):
        super().__init__(daemon=True)
        self.dsn, self.database = dsn, database
        self.peaks: Counter = Counter()
        self.stopping = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stopping.is_set():
                rows = conn.execute(
                    "SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = %s GROUP BY 1",
                    [self.database],
                ).fetchall()
                for name, count in rows:
                    self.peaks[name] = max(self.peaks[name], count)
                self.stopping.wait(0.2)

    def stop(self) -> Counter:
        self.stopping.set()
        self.join(timeout=10)
        return self.peaks


@pytest.fixture
def load_server(django_db_setup):
    env = {"VIDEO_MAX_IN_FLIGHT_PER_USER": str(IN_FLIGHT_LIMIT), "DATABASE_POOL_MAX_SIZE": str(POOL_SIZE)}
    web_env = {**env, "PGAPPNAME": "load-web", "WEB_WORKERS": str(WEB_WORKERS)}
    server, port = live.start_web("load-web", extra_env=web_env)
    worker = None
    try:
        worker = live.start_celery_worker("load-worker", extra_env={**env, "PGAPPNAME": "load-worker"})
        yield port
    finally:
        server.stop()
        if worker is not None:
            worker.stop()


async def follow(port: int, token: str, heard: dict) -> asyncio.Task:
    socket = await connect(
        f"ws://127.0.0.1:{port}/ws/videos/", open_timeout=30, subprotocols=["mediaplatform", f"token.{token}"]
    )
    assert json.loads(await socket.recv())["event_type"] == "subscribed"

    async def listen() -> None:
        async for message in socket:
            event = json.loads(message)
            if event.get("event_type") in TERMINAL:
                heard[event["video_id"]] = event["event_type"]

    task = asyncio.create_task(listen())
    task.socket = socket
    return task


async def upload(client: httpx.AsyncClient, token: str, clip: bytes, name: str) -> tuple[int, dict]:
    response = await client.post(
        "/api/v1/videos/",
        headers={"Authorization": f"Token {token}"},
        files={"file": (name, clip, "video/mp4")},
    )
    return response.status_code, response.json()


async def run_load(port: int, tokens: list[str], clips: list[bytes]):
    heard_by_socket: list[tuple[str, dict]] = []
    listeners = []
    for token in tokens:
        for _ in range(SOCKETS_PER_OWNER):
            heard: dict = {}
            heard_by_socket.append((token, heard))
            listeners.append(await follow(port, token, heard))

    limits = httpx.Limits(max_connections=OWNERS * UPLOADS_PER_OWNER)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=300, limits=limits) as client:
        jobs = [
            upload(client, token, clips[owner * UPLOADS_PER_OWNER + n], f"clip-{owner}-{n}.mp4")
            for n in range(UPLOADS_PER_OWNER)
            for owner, token in enumerate(tokens)
        ]
        tokens_in_order = [token for _ in range(UPLOADS_PER_OWNER) for token in tokens]
        answers = list(zip(tokens_in_order, await asyncio.gather(*jobs), strict=True))

    accepted = defaultdict(set)
    for token, (status, body) in answers:
        if status == 201:
            accepted[token].add(body["id"])

    deadline = time.monotonic() + PROCESSING_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if all(accepted[token] <= heard.keys() for token, heard in heard_by_socket):
            break
        await asyncio.sleep(0.5)
    for task in listeners:
        await task.socket.close()
        task.cancel()
    return answers, accepted, heard_by_socket


def test_200_uploads_and_100_sockets(load_server, tmp_path):
    tokens = [TokenFactory().key for _ in range(OWNERS)]
    clips = [
        write_test_video(tmp_path / f"clip{n}.mp4", seconds=0.5, fps=8, width=160, height=120, variant=n).read_bytes()
        for n in range(OWNERS * UPLOADS_PER_OWNER)
    ]
    db = connection.settings_dict
    dsn = f"host={db['HOST']} port={db['PORT']} user={db['USER']}"
    sampler = ConnectionSampler(f"{dsn} dbname=postgres", db["NAME"])
    sampler.start()
    started = time.monotonic()
    try:
        answers, accepted, heard_by_socket = run_in_own_loop(run_load(load_server, tokens, clips))
    finally:
        peaks = sampler.stop()
    elapsed = time.monotonic() - started

    statuses = Counter(status for _, (status, _) in answers)
    print(f"load: {dict(statuses)} in {elapsed:.1f}s, connection peaks {dict(peaks)}")
    assert set(statuses) <= {201, 429}, [body for _, (status, body) in answers if status not in (201, 429)]
    assert statuses[201] > 0
    for _, (status, body) in answers:
        if status == 429:
            assert body["error"]["code"] == "too_many_in_flight"

    accepted_ids = set().union(*accepted.values())
    assert len(accepted_ids) == statuses[201]
    states = Counter(Video.objects.filter(pk__in=accepted_ids).values_list("workflow_state", flat=True))
    assert states == Counter({"completed": len(accepted_ids)}), states

    for token, heard in heard_by_socket:
        assert accepted[token] <= heard.keys(), "a socket missed the end of one of its owner's videos"
        assert heard.keys() <= accepted[token], "a socket heard about another owner's video"
        assert set(heard.values()) == {"processing_completed"}

    assert 0 < peaks["load-web"] <= (WEB_WORKERS + 1) * POOL_SIZE, peaks
    assert 0 < peaks["load-worker"] <= POOL_SIZE, peaks
