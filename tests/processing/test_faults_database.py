"""PostgreSQL restarted under a running platform: 503 with a clear body meanwhile, recovery by itself, no job lost.

The platform (Daphne and an inference worker) runs on a private PostgreSQL cluster and a
private Redis, so the test may stop the database without touching the shared servers.
"""

import json
import time

import pytest
import requests
from django.db import InterfaceError, OperationalError
from django.test import RequestFactory

from mediaplatform.database_unavailable import DatabaseUnavailableMiddleware
from tests import faults, live
from tests.videofiles import write_test_video

DBNAME = "mp_faults"
FRAMES = 60
OUTAGE_SECONDS = 6


def job_progress(postgres: faults.PrivatePostgres) -> tuple[str, int] | None:
    rows = postgres.query("SELECT status, next_frame_index FROM processing_processingjob", dbname=DBNAME)
    return rows[0] if rows else None


def video_state(postgres: faults.PrivatePostgres) -> str:
    return postgres.query("SELECT workflow_state FROM videos_video", dbname=DBNAME)[0][0]


@pytest.mark.e2e
@pytest.mark.skipif(not faults.postgres_available(), reason="no PostgreSQL server binaries (initdb) here")
def test_a_postgres_restart_answers_503_then_recovers_and_loses_no_job(tmp_path):
    clip = write_test_video(tmp_path / "clip.mp4", seconds=FRAMES / 10, fps=10)
    with faults.private_postgres(DBNAME) as postgres, faults.private_redis() as redis, faults.processes() as started:
        env = {**postgres.env(DBNAME), **redis.env(), "CELERY_VISIBILITY_TIMEOUT": "30"}
        faults.manage(["migrate", "--noinput"], env=env)
        token = faults.manage(
            ["shell", "-c", "from tests.factories import TokenFactory; print(TokenFactory().key)"], env=env
        ).split()[-1]
        web, server = faults.start_web("web-private-postgres", env=env)
        started.append(web)
        worker = live.start_celery_worker("worker-private-postgres", extra_env=env)
        started.append(worker)
        logs = [web, worker]
        api = requests.Session()
        api.headers["Authorization"] = f"Token {token}"

        with clip.open("rb") as handle:
            created = api.post(
                f"http://{server}/api/v1/videos/", files={"file": ("clip.mp4", handle, "video/mp4")}, timeout=60
            )
        assert created.status_code == 201, created.text
        faults.wait_until(
            lambda: (progress := job_progress(postgres)) and progress[1] >= 8,
            timeout=180,
            what="the first stored batches",
            logs=logs,
        )

        postgres.stop()
        stopped_at = time.monotonic()
        down = api.get(f"http://{server}/api/v1/videos/", timeout=60)
        # Down for a while, not a blip: every request meanwhile answers 503, none hangs.
        while time.monotonic() - stopped_at < OUTAGE_SECONDS:
            later = api.get(f"http://{server}/api/v1/videos/", timeout=60)
            assert later.status_code == 503, later.text
            time.sleep(0.5)
        ready = requests.get(f"http://{server}/health/ready", timeout=60)
        alive = requests.get(f"http://{server}/health/live", timeout=60)
        postgres.start()
        back_at = time.monotonic()
        outage_seconds = back_at - stopped_at
        recovered = faults.wait_until(
            lambda: (answer := api.get(f"http://{server}/api/v1/videos/", timeout=60)).status_code == 200 and answer,
            timeout=120,
            what="the API to answer again",
            logs=logs,
        )
        recovery_seconds = time.monotonic() - back_at
        final_state = faults.wait_until(
            lambda: (state := video_state(postgres)) in ("completed", "failed") and state,
            timeout=240,
            what="the interrupted video to finish",
            logs=logs,
        )
        per_frame = dict(
            postgres.query("SELECT frame_index, count(*) FROM processing_detection GROUP BY frame_index", dbname=DBNAME)
        )
        job = postgres.query(
            "SELECT status, processed_frames, total_frames, detections_count FROM processing_processingjob",
            dbname=DBNAME,
        )[0]
        errors = postgres.query(
            "SELECT error_type, error_code, recovery_strategy FROM processing_processingerrorlog", dbname=DBNAME
        )

    print(
        f"PostgreSQL down {outage_seconds:.1f}s; 503 in {down.elapsed.total_seconds():.1f}s: {down.text}; "
        f"ready {ready.status_code} in {ready.elapsed.total_seconds():.1f}s; API back {recovery_seconds:.1f}s "
        f"after PostgreSQL; errors logged: {errors}"
    )
    assert down.status_code == 503, down.text
    assert down.json()["error"]["code"] == "database_unavailable"
    assert down.headers["Retry-After"]
    assert ready.status_code == 503 and ready.json()["components"]["database"]["status"] == "unhealthy"
    assert alive.status_code == 200, "the process itself stays alive"
    assert recovered.json()["count"] == 1

    assert final_state == "completed"
    assert job[:3] == ("completed", FRAMES, FRAMES), f"the job resumed and finished: {job}, errors {errors}"
    assert sorted(per_frame) == list(range(FRAMES)), "every frame has its detections, once"
    assert len(set(per_frame.values())) == 1, "each frame holds the detector's full quota, no more"
    assert job[3] == sum(per_frame.values())
    assert errors, "the interruption left an error-log row"
    assert {(kind, strategy) for kind, _code, strategy in errors} <= {
        ("database_error", "linear_backoff"),
        ("timeout", "retry"),
    }


def test_views_outside_drf_answer_503_while_the_database_is_unreachable():
    middleware = DatabaseUnavailableMiddleware(get_response=lambda request: None)

    api = middleware.process_exception(RequestFactory().get("/api/media/history"), InterfaceError("closed"))
    page = middleware.process_exception(RequestFactory().get("/"), OperationalError("connection refused"))

    assert api.status_code == page.status_code == 503
    assert json.loads(api.content)["error"]["code"] == "database_unavailable"
    assert api["Retry-After"] and page["Retry-After"]
    assert middleware.process_exception(RequestFactory().get("/"), ValueError("a bug")) is None, "bugs stay 500"
