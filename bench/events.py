"""Live-event benchmark: commit-to-websocket latency against the raw channel-layer floor, and fan-out.

Run from the repository root: `python bench/events.py [--only latency|fanout] [--smoke]`. It creates a throwaway
PostgreSQL database (migrated, dropped at the end), starts Daphne processes on
127.0.0.1, and runs the websocket clients in a child process, so emitter,
server and clients do not share one interpreter lock.

1. Latency, for each channel layer (channels-redis core and pub/sub): the time
   from the commit of a state change (`video_transition`, timestamped by an
   on-commit hook that runs before the delivery hook) to its receipt by 1 and
   by 50 websocket clients of `/ws/videos/<id>/`, p50 and p99. The floor is a
   bare `group_send` to a bare consumer on a Daphne of the same layer,
   measured in the same run with the same number of clients.
2. Fan-out, with the layer configured in settings: 1,000 dashboard clients of
   `/ws/videos/` on one Daphne (20 users, 50 clients each, one video each)
   receiving progress at 4 ticks/s per video for 20 videos, then each video's
   completion. p99 delivery, and how many clients missed their terminal event.

Clock: time.monotonic() is CLOCK_MONOTONIC, shared by all processes of the machine.
The last line holds the key figures as key=value pairs.
"""

import asyncio
import gc
import json
import os
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from contextlib import closing, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediaplatform.settings")
# Each run gets its own database and channel-layer prefix; children inherit both.
os.environ.setdefault("BENCH_RUN_ID", f"{os.getpid()}_{secrets.token_hex(3)}")
RUN_ID = os.environ["BENCH_RUN_ID"]
os.environ.setdefault("DATABASE_NAME", f"mp_bench_{RUN_ID}")
os.environ.setdefault("CHANNELS_PREFIX", f"mp-bench-{RUN_ID}")
os.environ.setdefault("DATABASE_POOL_MAX_SIZE", "8")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

LATENCY_EVENTS = 220
WARMUP_EVENTS = 20
PACE_SECONDS = 0.05  # 20 state changes a second: latency, not a saturation test
FANOUT_USERS = 20
FANOUT_CLIENTS_PER_USER = 50
FANOUT_TICKS = 20
FANOUT_TICK_INTERVAL = 0.25
MANY_CLIENTS = 50  # the latency measured with this many clients of one video, against one

TERMINAL = ("processing_completed", "processing_failed")
LAYERS = ("core", "pubsub")


def use_smoke_sizes() -> None:
    """--smoke: a few events and clients, so the test suite proves the script still runs; figures mean nothing."""
    global LATENCY_EVENTS, WARMUP_EVENTS, FANOUT_USERS, FANOUT_CLIENTS_PER_USER, FANOUT_TICKS, MANY_CLIENTS
    LATENCY_EVENTS, WARMUP_EVENTS, MANY_CLIENTS = 12, 2, 3
    FANOUT_USERS, FANOUT_CLIENTS_PER_USER, FANOUT_TICKS = 2, 2, 3


class FloorConsumer(AsyncWebsocketConsumer):
    """The least a consumer can do: join a group, forward what it gets."""

    async def connect(self):
        self.group = self.scope["url_route"]["kwargs"]["group"]
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def dispatch(self, message):
        # As VideoEventsConsumer: no database-connection cleanup hop per group message.
        if message["type"] == "floor.message":
            await self.send(text_data=message["text"])
        else:
            await super().dispatch(message)


floor_application = ProtocolTypeRouter({"websocket": URLRouter([path("floor/<str:group>/", FloorConsumer.as_asgi())])})


# ---------------------------------------------------------------- client process


async def _clients_main(config: dict) -> None:
    from websockets.asyncio.client import connect

    limit = asyncio.Semaphore(100)

    async def open_socket(target: str | list):
        # A bare URL, or [URL, API token]: the token rides in Sec-WebSocket-Protocol, never in the URL.
        url, token = (target, None) if isinstance(target, str) else target
        subprotocols = ["mediaplatform", f"token.{token}"] if token else None
        async with limit:
            for attempt in range(5):
                try:
                    ws = await connect(
                        url, open_timeout=60, ping_interval=None, max_queue=None, subprotocols=subprotocols
                    )
                    break
                except OSError:
                    if attempt == 4:
                        raise
                    await asyncio.sleep(0.5)
            if config["greeting"]:
                await ws.recv()  # {"event_type": "subscribed"}: the consumer is in its group
            return ws

    sockets = await asyncio.gather(*(open_socket(url) for url in config["urls"]))
    # The clients are the measuring instrument: a full garbage collection over
    # 1,000 connections' objects stalls them for hundreds of milliseconds and
    # would be charged to the server. The run is short and bounded.
    gc.collect()
    gc.freeze()
    gc.disable()
    print("READY", flush=True)
    deadline = time.monotonic() + config["deadline_seconds"]

    async def read(ws) -> list:
        received = []
        while len(received) < config["expect"]:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=remaining)
            except Exception:  # the deadline passed, or the server closed the connection
                break
            now = time.monotonic()
            message = json.loads(raw)
            if "seq" not in message:
                continue
            received.append(
                [message["video_id"], message["seq"], now, message.get("coalesced_from_seq"), message["event_type"]]
            )
            if config["stop_on_terminal"] and message["event_type"] in TERMINAL:
                break
        return received

    results = await asyncio.gather(*(read(ws) for ws in sockets))
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    print("RESULT " + json.dumps(results), flush=True)


class ClientProcess:
    """Websocket clients in a child process; `ready()` once all are connected, `results()` at the end."""

    def __init__(self, *, urls: list[str | list], expect: int, greeting: bool, stop_on_terminal: bool, deadline: float):
        config = {
            "urls": urls,
            "expect": expect,
            "greeting": greeting,
            "stop_on_terminal": stop_on_terminal,
            "deadline_seconds": deadline,
        }
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--clients"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.process.stdin.write(json.dumps(config))
        self.process.stdin.close()

    def ready(self) -> None:
        for line in self.process.stdout:
            if line.startswith("READY"):
                return
        raise RuntimeError(f"the client process ended before connecting (exit {self.process.wait()})")

    def results(self) -> list[list]:
        for line in self.process.stdout:
            if line.startswith("RESULT "):
                self.process.wait(timeout=30)
                return json.loads(line[len("RESULT ") :])
        raise RuntimeError(f"the client process gave no result (exit {self.process.wait()})")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


# ---------------------------------------------------------------- orchestration helpers


def raise_file_limit(wanted: int = 8192) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def daphne(application: str, *, backend: str):
    port = free_port()
    env = dict(os.environ, CHANNEL_LAYER_BACKEND=backend, PYTHONUNBUFFERED="1")
    log = open(f"/tmp/mp-bench-{RUN_ID}-{backend}-{port}.log", "w")  # noqa: SIM115 - owned by the child
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), application],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"daphne exited: see {log.name}")
            with closing(socket.socket()) as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("daphne did not start")
            time.sleep(0.1)
        yield f"127.0.0.1:{port}", process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        os.unlink(log.name)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def layer_settings(backend: str) -> dict:
    from django.conf import settings

    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    hosts, prefix = config["hosts"], config["prefix"]
    if backend == "pubsub":
        return {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": hosts, "prefix": prefix},
        }
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": hosts, "prefix": prefix, "capacity": 1000, "expiry": 60},
    }


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def summary(samples_ms: list[float]) -> dict:
    return {
        "n": len(samples_ms),
        "p50": statistics.median(samples_ms),
        "p99": percentile(samples_ms, 0.99),
        "max": max(samples_ms),
    }


# ---------------------------------------------------------------- database


def postgres_admin_connection():
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    return psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"], dbname="postgres", autocommit=True
    )


def create_database() -> str:
    from django.conf import settings
    from django.core.management import call_command

    name = settings.DATABASES["default"]["NAME"]
    with postgres_admin_connection() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    call_command("migrate", verbosity=0, interactive=False)
    return name


def drop_database(name: str) -> None:
    from django.db import connections

    for connection in connections.all():
        connection.close()
        close_pool = getattr(connection, "close_pool", None)
        if close_pool:
            close_pool()
    with postgres_admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def clean_channel_layer_keys() -> None:
    import redis
    from django.conf import settings

    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    client = redis.Redis.from_url(config["hosts"][0])
    keys = list(client.scan_iter(match=f"{config['prefix']}*", count=1000))
    if keys:
        client.delete(*keys)


def create_user_with_video(index: int, *, state: str = "processing"):
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from videos.models import Video

    user = get_user_model().objects.create_user(username=f"bench-{RUN_ID}-{index}", password=secrets.token_hex(8))
    token = Token.objects.create(user=user)
    video = Video.objects.create(owner=user, title=f"bench {index}", workflow_state=state)
    return user, token.key, video


# ---------------------------------------------------------------- scenarios


def measure_floor(server: str, *, clients: int) -> dict:
    from channels.layers import get_channel_layer

    from notifications.services.layer_loop import run_on_layer_loop

    group = f"floor-{secrets.token_hex(4)}"
    client_process = ClientProcess(
        urls=[f"ws://{server}/floor/{group}/"] * clients,
        expect=LATENCY_EVENTS,
        greeting=False,
        stop_on_terminal=False,
        deadline=60,
    )
    try:
        client_process.ready()
        layer = get_channel_layer()
        sent_at: dict[int, float] = {}

        async def send(seq: int) -> None:
            text = json.dumps({"video_id": group, "seq": seq, "event_type": "floor"})
            sent_at[seq] = time.monotonic()
            await layer.group_send(group, {"type": "floor.message", "text": text})

        for seq in range(1, LATENCY_EVENTS + 1):
            run_on_layer_loop(send(seq), timeout=10)
            time.sleep(PACE_SECONDS)
        received = client_process.results()
    finally:
        client_process.stop()
    return latency_summary(received, {(group, seq): t for seq, t in sent_at.items()}, clients)


def measure_state_changes(server: str, *, clients: int, token: str, video) -> dict:
    from django.db import transaction

    from videos.services.transitions import video_transition

    client_process = ClientProcess(
        urls=[[f"ws://{server}/ws/videos/{video.pk}/", token]] * clients,
        expect=LATENCY_EVENTS,
        greeting=True,
        stop_on_terminal=False,
        deadline=90,
    )
    committed_at: dict[tuple[str, int], float] = {}
    try:
        client_process.ready()
        for index in range(LATENCY_EVENTS):
            failing = index % 2 == 0
            stamp: dict[str, float] = {}
            with transaction.atomic():
                # Registered before the transition's delivery hook, so it runs right after COMMIT returns.
                transaction.on_commit(lambda stamp=stamp: stamp.setdefault("t", time.monotonic()))
                # Back and forth between two states the state machine links both ways: failed, and
                # validating again (a retry).
                changed = video_transition(
                    video_id=video.pk,
                    transition_name="fail" if failing else "start_validation",
                    reason="bench",
                    event_type="processing_failed" if failing else "state_changed",
                )
            committed_at[(str(video.pk), changed.last_event_seq)] = stamp["t"]
            time.sleep(PACE_SECONDS)
        received = client_process.results()
    finally:
        client_process.stop()
    return latency_summary(received, committed_at, clients)


def latency_summary(received: list[list], origin: dict[tuple[str, int], float], clients: int) -> dict:
    first_counted = min(seq for _, seq in origin) + WARMUP_EVENTS
    samples = [
        (t - origin[(video_id, seq)]) * 1000
        for per_client in received
        for video_id, seq, t, _, _ in per_client
        if seq >= first_counted and (video_id, seq) in origin
    ]
    expected = clients * (len(origin) - WARMUP_EVENTS)
    return {**summary(samples), "missing": expected - len(samples)}


def measure_fanout(server: str, *, server_pid: int) -> dict:
    from django.db import transaction

    from notifications.services.events import event_emit
    from videos.services.transitions import video_lock, video_transition

    owners = [create_user_with_video(1000 + index) for index in range(FANOUT_USERS)]
    urls = [[f"ws://{server}/ws/videos/", token] for _, token, _ in owners for _ in range(FANOUT_CLIENTS_PER_USER)]
    client_process = ClientProcess(
        urls=urls, expect=FANOUT_TICKS + 1, greeting=True, stop_on_terminal=True, deadline=120
    )
    committed_at: dict[tuple[str, int], float] = {}

    def commit(video_id, work) -> None:
        stamp: dict[str, float] = {}
        with transaction.atomic():
            transaction.on_commit(lambda: stamp.setdefault("t", time.monotonic()))
            seq = work()
        committed_at[(str(video_id), seq)] = stamp["t"]

    def progress(video_id, tick: int):
        def work() -> int:
            video = video_lock(video_id=video_id)
            video.progress_percentage = round(100 * tick / FANOUT_TICKS, 2)
            video.save(update_fields=["progress_percentage", "updated_at"])
            data = {"stage": "inference", "progress_percentage": float(video.progress_percentage)}
            return event_emit(video=video, event_type="processing_progress", data=data).seq

        return work

    def complete(video_id):
        def work() -> int:
            return video_transition(
                video_id=video_id, transition_name="complete", event_type="processing_completed"
            ).last_event_seq

        return work

    started = time.monotonic()
    try:
        client_process.ready()
        connect_seconds = time.monotonic() - started
        cpu_before = {"server": cpu_seconds(server_pid), "clients": cpu_seconds(client_process.process.pid)}
        run_started = time.monotonic()
        for tick in range(1, FANOUT_TICKS + 1):
            round_started = time.monotonic()
            for _, _, video in owners:
                commit(video.pk, progress(video.pk, tick))
            time.sleep(max(0.0, FANOUT_TICK_INTERVAL - (time.monotonic() - round_started)))
        for _, _, video in owners:
            commit(video.pk, complete(video.pk))
        emitted_seconds = time.monotonic() - run_started
        cpu_server = cpu_seconds(server_pid) - cpu_before["server"]
        cpu_clients = cpu_seconds(client_process.process.pid) - cpu_before["clients"]
        received = client_process.results()
    finally:
        client_process.stop()

    samples, lost, unexplained_gaps, coalesced = [], 0, 0, 0
    for per_client in received:
        last_seq = 0
        for video_id, seq, t, coalesced_from, _ in per_client:
            samples.append((t - committed_at[(video_id, seq)]) * 1000)
            if seq != last_seq + 1:
                if coalesced_from is not None and coalesced_from <= last_seq + 1:
                    coalesced += 1
                else:
                    unexplained_gaps += 1
            last_seq = seq
        if not per_client or per_client[-1][4] not in TERMINAL:
            lost += 1
    return {
        **summary(samples),
        "clients": len(urls),
        "lost": lost,
        "gaps": unexplained_gaps,
        "coalesced": coalesced,
        "connect_s": connect_seconds,
        "server_cpu_share": cpu_server / emitted_seconds,
        "clients_cpu_share": cpu_clients / emitted_seconds,
        "emitted_s": emitted_seconds,
        "messages_per_s": len(samples) / emitted_seconds,
    }


def print_line(label: str, figures: dict) -> None:
    print(
        f"  {label:<34} p50 {figures['p50']:7.2f} ms   p99 {figures['p99']:7.2f} ms   "
        f"max {figures['max']:7.2f} ms   n={figures['n']}"
        + (f"  missing={figures['missing']}" if figures.get("missing") else ""),
        flush=True,
    )


def measure_latency(token: str, video) -> dict[str, dict]:
    from django.test.utils import override_settings

    results: dict[str, dict] = {}
    for backend in LAYERS:
        print(f"layer {backend}:", flush=True)
        with (
            override_settings(CHANNEL_LAYERS={"default": layer_settings(backend)}),
            daphne("mediaplatform.asgi:application", backend=backend) as (server, _),
            daphne("bench.events:floor_application", backend=backend) as (floor_server, _),
        ):
            figures = {
                "floor_1": measure_floor(floor_server, clients=1),
                "floor_50": measure_floor(floor_server, clients=MANY_CLIENTS),
                "state_1": measure_state_changes(server, clients=1, token=token, video=video),
                "state_50": measure_state_changes(server, clients=MANY_CLIENTS, token=token, video=video),
            }
        results[backend] = figures
        print_line("floor, 1 client (bare group_send)", figures["floor_1"])
        print_line(f"floor, {MANY_CLIENTS} clients", figures["floor_50"])
        print_line("state change, 1 client", figures["state_1"])
        print_line(f"state change, {MANY_CLIENTS} clients", figures["state_50"])
        print(
            f"  ratio to floor (p99): 1 client {figures['state_1']['p99'] / figures['floor_1']['p99']:.2f}x, "
            f"{MANY_CLIENTS} clients {figures['state_50']['p99'] / figures['floor_50']['p99']:.2f}x",
            flush=True,
        )
    return results


def run_fanout(backend: str) -> dict:
    from django.test.utils import override_settings

    print(
        f"fan-out ({backend}): {FANOUT_USERS * FANOUT_CLIENTS_PER_USER} clients of /ws/videos/, {FANOUT_USERS} videos,"
        f" {FANOUT_TICKS} progress ticks at {1 / FANOUT_TICK_INTERVAL:.0f}/s each, then completion",
        flush=True,
    )
    with (
        override_settings(CHANNEL_LAYERS={"default": layer_settings(backend)}),
        daphne("mediaplatform.asgi:application", backend=backend) as (server, server_pid),
    ):
        fanout = measure_fanout(server, server_pid=server_pid)
    print_line("fan-out delivery", fanout)
    print(
        f"  {fanout['clients']} clients connected in {fanout['connect_s']:.1f} s; {fanout['messages_per_s']:.0f} "
        f"messages/s over {fanout['emitted_s']:.1f} s; CPU of one core: "
        f"server {100 * fanout['server_cpu_share']:.0f}%, clients {100 * fanout['clients_cpu_share']:.0f}%; "
        "terminal events lost "
        f"{fanout['lost']}; unexplained gaps {fanout['gaps']}; coalesced gaps {fanout['coalesced']}",
        flush=True,
    )
    return fanout


def main(only: str | None) -> None:
    from django.conf import settings

    raise_file_limit()
    configured = settings.CHANNEL_LAYER_BACKEND
    database = create_database()
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    print(f"database {database} (dropped at the end), channel prefix {prefix}")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start", flush=True)
    figures: dict[str, str] = {"layer": configured}
    try:
        if only in (None, "latency"):
            _, token, video = create_user_with_video(0)
            results = measure_latency(token, video)
            winner = min(LAYERS, key=lambda backend: results[backend]["state_50"]["p99"])
            other = next(backend for backend in LAYERS if backend != configured)
            print(
                f"lower p99 with {MANY_CLIENTS} clients: {winner} (core {results['core']['state_50']['p99']:.2f} ms, "
                f"pubsub {results['pubsub']['state_50']['p99']:.2f} ms); configured: {configured}",
                flush=True,
            )
            mine = results[configured]
            figures.update(
                winner=winner,
                p50_1_client_ms=f"{mine['state_1']['p50']:.2f}",
                p99_1_client_ms=f"{mine['state_1']['p99']:.2f}",
                p50_50_clients_ms=f"{mine['state_50']['p50']:.2f}",
                p99_50_clients_ms=f"{mine['state_50']['p99']:.2f}",
                floor_p99_ms=f"{mine['floor_50']['p99']:.2f}",
                ratio=f"{mine['state_50']['p99'] / mine['floor_50']['p99']:.2f}",
                other_layer_p99_50_clients_ms=f"{results[other]['state_50']['p99']:.2f}",
            )
        if only in (None, "fanout"):
            fanout = run_fanout(configured)
            figures.update(
                fanout_clients=str(fanout["clients"]),
                fanout_p50_ms=f"{fanout['p50']:.2f}",
                fanout_p99_ms=f"{fanout['p99']:.2f}",
                lost=str(fanout["lost"]),
            )
        print(" ".join(f"{key}={value}" for key, value in figures.items()), flush=True)
    finally:
        clean_channel_layer_keys()
        drop_database(database)


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if arguments == ["--clients"]:
        asyncio.run(_clients_main(json.loads(sys.stdin.read())))
    else:
        if "--smoke" in arguments:
            arguments.remove("--smoke")
            use_smoke_sizes()
        if arguments in ([], ["--only", "latency"], ["--only", "fanout"]):
            main(arguments[1] if arguments else None)
        else:
            sys.exit("usage: python bench/events.py [--only latency|fanout] [--smoke]")
