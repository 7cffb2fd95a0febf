"""REST API under load: video detail and filtered history pages against a bare Django JSON view.

    python bench/api.py [--videos 100000] [--clients 100] [--seconds 10] [--workers 2]

A throwaway database gets 100,000 videos (COPY) spread over 100 users (one per client, each with an API key);
1,000 of them have a run with its stage timeline, state history and errors, which the detail pages read.
Daphne serves the real settings (API-key auth, role checks, Redis rate limiting, every middleware) on
127.0.0.1 with `--workers` processes accepting on one shared socket; a raw asyncio HTTP/1.1 keep-alive load
generator in this process runs `--clients` concurrent clients, each as its own user, against:

- bare:    a plain Django JSON view through the same middleware (the floor of this server on this machine),
- detail:  GET /api/v1/videos/<id>/ (video, latest run with stages, timeline, latest errors),
- history: GET /api/media/history?status=completed&per_page=20&page=N (filtered, counted, paginated).

It prints the history query's EXPLAIN ANALYZE (index use) and ends with one `key=value` line: requests/s,
p50/p95 latency per scenario and the ratios to the bare view.
"""

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

if __name__ != "__main__" and os.environ.get("BENCH_API_SERVER") == "1":
    # Imported by Daphne as `bench.api:application`: the platform's URLs plus the bare view.
    import django

    django.setup()
    from django.conf import settings
    from django.core.asgi import get_asgi_application
    from django.http import JsonResponse
    from django.urls import include, path

    def bare(request):
        return JsonResponse({"id": "00000000-0000-0000-0000-000000000000", "state": "completed", "ok": True})

    urlpatterns = [path("bench/bare/", bare), path("", include("mediaplatform.urls"))]
    settings.ROOT_URLCONF = __name__
    application = get_asgi_application()

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.benchdb import django_setup, last_line, throwaway_database  # noqa: E402

STATES = ["completed"] * 7 + ["failed", "processing", "uploaded"]
DETAILED_PER_USER = 10


def percentile(samples: list[float], fraction: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


# Data ---------------------------------------------------------------------------------------------------


def copy_rows(model, rows: list[dict]) -> None:
    """COPY model rows (dicts of column values, every non-null column given) into the table."""
    from django.db import connection

    columns = list(rows[0])
    table = model._meta.db_table
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def video_row(owner_id: int, index: int, now, state: str) -> dict:
    created = now - timedelta(minutes=index * 7 + random.random())
    return {
        "id": uuid.uuid4(),
        "owner_id": owner_id,
        "title": f"clip {owner_id}-{index}",
        "original_filename": f"clip-{index}.mp4",
        "file": "",
        "size_bytes": 1_000_000 + index,
        "file_hash": uuid.uuid4().hex + uuid.uuid4().hex,
        "mime_type": "video/mp4",
        "source_url": "",
        "workflow_state": state,
        "current_stage": "inference" if state != "uploaded" else "upload",
        "progress_percentage": 100 if state == "completed" else 40,
        "last_error_message": "decoder failed" if state == "failed" else "",
        "needs_review": False,
        "last_event_seq": 5,
        "duration_seconds": 12.0,
        "fps": 25.0,
        "width": 1280,
        "height": 720,
        "frame_count": 300,
        "codec": "h264",
        "container": "mov,mp4,m4a,3gp,3g2,mj2",
        "rotation": 0,
        "has_audio": False,
        "objects_detected_count": 42 if state == "completed" else 0,
        "annotations_count": 0,
        "total_processing_seconds": 9.5 if state == "completed" else None,
        "frames_per_second_processed": 31.6 if state == "completed" else None,
        "priority": "normal",
        "expiry_date": None,
        "retention_policy": "standard",
        "data_classification": "internal",
        "deleted_at": None,
        "created_at": created,
        "updated_at": created,
    }


def populate(*, videos: int, users: int) -> dict:
    """Users with API keys, their videos (COPY), runs/stages/transitions/errors for the detailed ones."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from processing.models import JobStage, ProcessingErrorLog, ProcessingJob
    from videos.models import Video, VideoStateTransition
    from videos.models_access import MediaAnalysisRequest
    from videos.services.access import api_key_create

    started = time.perf_counter()
    random.seed(7)
    now = timezone.now()
    user_model = get_user_model()
    user_model.objects.bulk_create(
        [user_model(username=f"bench{i}", email=f"bench{i}@example.com") for i in range(users)]
    )
    owners = list(user_model.objects.order_by("id"))
    keys = [api_key_create(user=owner, name="bench")[1] for owner in owners]

    per_user = videos // users
    detailed: list[list[uuid.UUID]] = [[] for _ in owners]
    rows, requests, jobs, stages, transitions, errors = [], [], [], [], [], []
    for slot, owner in enumerate(owners):
        for index in range(per_user):
            state = "completed" if index < DETAILED_PER_USER else STATES[index % len(STATES)]
            row = video_row(owner.pk, index, now, state)
            rows.append(row)
            if index % 10 == 3:
                requests.append({"video_id": row["id"], "prompt": "What is happening in this video?"})
            if index < DETAILED_PER_USER:
                detailed[slot].append(row["id"])
                job_id = uuid.uuid4()
                jobs.append((job_id, row))
                stages.extend((job_id, stage) for stage in ("upload", "validation", "extraction", "inference"))
                transitions.extend(
                    (row["id"], a, b)
                    for a, b in [("initializing", "uploading"), ("uploading", "uploaded"), ("uploaded", "validating")]
                )
                errors.append(row["id"])
        if len(rows) >= 20_000:
            copy_rows(Video, rows)
            rows = []
    if rows:
        copy_rows(Video, rows)
    MediaAnalysisRequest.objects.bulk_create(
        [MediaAnalysisRequest(requested_media_type="video", **r) for r in requests], batch_size=5000
    )
    ProcessingJob.objects.bulk_create(
        [
            ProcessingJob(
                id=job_id,
                video_id=row["id"],
                status="completed",
                model_name="yolov8n",
                current_stage="inference",
                processed_frames=300,
                total_frames=300,
                progress_percentage=100,
                detections_count=42,
                started_at=row["created_at"],
                finished_at=row["created_at"] + timedelta(seconds=10),
            )
            for job_id, row in jobs
        ],
        batch_size=5000,
    )
    JobStage.objects.bulk_create(
        [
            JobStage(
                job_id=job_id, stage=stage, status="completed", progress_percentage=100, started_at=now, finished_at=now
            )
            for job_id, stage in stages
        ],
        batch_size=5000,
    )
    VideoStateTransition.objects.bulk_create(
        [VideoStateTransition(video_id=v, from_state=a, to_state=b, transition="bench") for v, a, b in transitions],
        batch_size=5000,
    )
    ProcessingErrorLog.objects.bulk_create(
        [
            ProcessingErrorLog(
                video_id=v, stage="inference", error_type="network", message="timeout", recovery_strategy="retry"
            )
            for v in errors
        ],
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "keys": keys,
        "owners": owners,
        "detailed": [[str(v) for v in ids] for ids in detailed],
        "seconds": time.perf_counter() - started,
        "count": Video.objects.count(),
    }


def explain_history(owner) -> str:
    from videos.selectors import analysis_history

    queryset = analysis_history(user=owner, status="completed")
    page = queryset.values("id", "workflow_state", "deleted_at", "created_at", "updated_at", "analysis_request__prompt")
    plan_page = page[20:40].explain(analyze=True)
    plan_count = queryset.order_by().values("id").explain(analyze=True)
    return f"-- page 2 (rows 21-40):\n{plan_page}\n-- rows counted for pagination.total:\n{plan_count}"


# Server -------------------------------------------------------------------------------------------------


def start_servers(*, workers: int, database: str) -> tuple[list[subprocess.Popen], int, socket.socket, Path]:
    """Daphne worker processes accepting on one listening socket on 127.0.0.1."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    listener.set_inheritable(True)
    port = listener.getsockname()[1]
    env = dict(os.environ)
    env.update(
        {
            "BENCH_API_SERVER": "1",
            "DJANGO_SETTINGS_MODULE": "mediaplatform.settings",
            "DATABASE_NAME": database,
            "DATABASE_POOL_MAX_SIZE": "4",
            "DJANGO_DEBUG": "0",
            "LOG_LEVEL": "WARNING",
            "API_RATE_LIMIT_KEY": "100000000/min",
            "CACHE_KEY_PREFIX": f"bench-api-{os.getpid()}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    log = Path(tempfile.mkstemp(prefix="bench-api-daphne-", suffix=".log")[1])
    root = Path(__file__).resolve().parent.parent
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "daphne", "-v", "0", "--fd", str(listener.fileno()), "bench.api:application"],
            cwd=root,
            env=env,
            pass_fds=[listener.fileno()],
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        for _ in range(workers)
    ]
    return processes, port, listener, log


def stop_servers(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


# Load generator -----------------------------------------------------------------------------------------


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if length is not None:
        await reader.readexactly(length)
    elif chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def _client(port: int, paths, key: str, stop_at: float, measure_from: float, out: list, statuses: dict):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            started = time.perf_counter()
            if started >= stop_at:
                break
            request = (
                f"GET {next(paths)} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Api-Key {key}\r\n"
                "Accept: application/json\r\nConnection: keep-alive\r\n\r\n"
            )
            writer.write(request.encode())
            status = await _read_response(reader)
            finished = time.perf_counter()
            if started >= measure_from:
                out.append((finished - started) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


def run_load(*, port: int, clients: int, seconds: float, warmup: float, path_for, keys: list[str]) -> dict:
    async def main():
        start = time.perf_counter()
        measure_from = start + warmup
        stop_at = measure_from + seconds
        latencies: list[list[float]] = [[] for _ in range(clients)]
        statuses: dict[int, int] = {}

        def paths(slot):
            rng = random.Random(slot)
            while True:
                yield path_for(slot, rng)

        await asyncio.gather(
            *(
                _client(port, paths(i), keys[i % len(keys)], stop_at, measure_from, latencies[i], statuses)
                for i in range(clients)
            )
        )
        return latencies, statuses

    latencies, statuses = asyncio.run(main())
    samples = [x for per in latencies for x in per]
    ok = statuses.get(200, 0)
    return {
        "rps": ok / seconds,
        "p50": percentile(samples, 0.50),
        "p95": percentile(samples, 0.95),
        "p99": percentile(samples, 0.99),
        "requests": len(samples),
        "errors": len(samples) - ok,
        "statuses": statuses,
    }


def wait_ready(port: int, key: str, deadline: float = 60) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            result = run_load(
                port=port, clients=1, seconds=0.2, warmup=0, path_for=lambda s, r: "/bench/bare/", keys=[key]
            )
            if result["statuses"].get(200):
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError("the API server did not answer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    django_setup()
    from django.db import connection

    with throwaway_database() as database:
        data = populate(videos=args.videos, users=args.clients)
        print(f"populated {data['count']} videos for {args.clients} users in {data['seconds']:.1f} s")
        print("EXPLAIN ANALYZE of the history page query (GET /api/media/history?status=completed):")
        plan = explain_history(data["owners"][0])
        print(plan)
        index_used = "video_owner_state_created_idx" in plan or "video_owner_created_idx" in plan
        connection.close()

        processes, port, listener, log = start_servers(workers=args.workers, database=database)
        try:
            wait_ready(port, data["keys"][0])
            detailed = data["detailed"]
            scenarios = {
                "bare": lambda slot, rng: "/bench/bare/",
                "detail": lambda slot, rng: f"/api/v1/videos/{rng.choice(detailed[slot % len(detailed)])}/",
                "history": lambda slot, rng: (
                    f"/api/media/history?status=completed&per_page=20&page={rng.randint(1, 5)}"
                ),
            }
            results = {}
            for name, path_for in scenarios.items():
                results[name] = run_load(
                    port=port,
                    clients=args.clients,
                    seconds=args.seconds,
                    warmup=args.warmup,
                    path_for=path_for,
                    keys=data["keys"],
                )
                r = results[name]
                print(
                    f"{name:8s} {r['rps']:8.1f} req/s  p50 {r['p50']:6.1f} ms  p95 {r['p95']:6.1f} ms  "
                    f"p99 {r['p99']:6.1f} ms  statuses {r['statuses']}"
                )
        finally:
            stop_servers(processes)
            listener.close()
        print(f"server log: {log}")

    bare, detail, history = results["bare"], results["detail"], results["history"]
    print(
        last_line(
            videos=data["count"],
            clients=args.clients,
            workers=args.workers,
            bare_rps=bare["rps"],
            bare_p95_ms=bare["p95"],
            detail_rps=detail["rps"],
            detail_p50_ms=detail["p50"],
            detail_p95_ms=detail["p95"],
            history_rps=history["rps"],
            history_p50_ms=history["p50"],
            history_p95_ms=history["p95"],
            detail_vs_bare=detail["rps"] / bare["rps"] if bare["rps"] else 0.0,
            history_vs_bare=history["rps"] / bare["rps"] if bare["rps"] else 0.0,
            errors=bare["errors"] + detail["errors"] + history["errors"],
            history_index_used=int(index_used),
        )
    )


if __name__ == "__main__":
    main()
