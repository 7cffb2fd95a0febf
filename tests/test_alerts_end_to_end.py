"""Failures provoked on the running platform fire the shipped Prometheus rules in a real Prometheus scraping
/metrics, and open the platform's own alert, told live to staff; both resolve once the failures leave the window.

The platform runs with a 20 s ALERT_WINDOW_SECONDS so that recovery (no failure within the window) comes within
the test; Prometheus loads deploy/prometheus/alerts.yml as shipped except for `for:`, shortened to 0s.
"""

import json
import shutil
import time
from pathlib import Path

import pytest
import redis
import requests
from django.conf import settings
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from notifications.models import Alert
from processing.models import JobStatus, ProcessingJob
from tests import live
from tests.factories import TokenFactory
from tests.notifications.helpers import token_protocols
from tests.videofiles import write_test_video

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

RULES = live.ROOT / "deploy" / "prometheus" / "alerts.yml"
WINDOW_SECONDS = 20
CORRUPT_UPLOADS = 3
PLATFORM_ENV = {"ALERT_WINDOW_SECONDS": str(WINDOW_SECONDS), "METRICS_PUBLIC": "1"}


def wait_until(predicate, *, timeout: float, what: str, logs=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.5)
    tails = "\n".join(f"--- {process.name}\n{process.log_tail()}" for process in logs)
    raise AssertionError(f"{what}: not within {timeout}s\n{tails}")


def start_prometheus(folder: Path, *, target: str) -> tuple[live.LiveProcess, str]:
    rules = RULES.read_text().replace("for: 2m", "for: 0s")
    (folder / "alerts.yml").write_text(rules)
    (folder / "prometheus.yml").write_text(
        json.dumps(  # JSON is YAML: no YAML writer needed
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(folder / "alerts.yml")],
                "scrape_configs": [{"job_name": "mediaplatform", "static_configs": [{"targets": [target]}]}],
            }
        )
    )
    port = live.free_port()
    process = live.start_process(
        "prometheus",
        [
            shutil.which("prometheus") or "/usr/bin/prometheus",
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
    )
    live.wait_for_port(port, process)
    base = f"http://127.0.0.1:{port}"
    # Listening is not ready: until its storage is open, Prometheus answers 503 with a plain-text body.
    wait_until(
        lambda: requests.get(f"{base}/-/ready", timeout=10).status_code == 200,
        timeout=60,
        what="Prometheus to be ready",
        logs=[process],
    )
    return process, base


def firing(prometheus: str, name: str) -> set[str]:
    """Severities of the named alert that Prometheus has firing now."""
    alerts = requests.get(f"{prometheus}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    return {a["labels"]["severity"] for a in alerts if a["labels"]["alertname"] == name and a["state"] == "firing"}


def scraped(prometheus: str) -> bool:
    result = requests.get(f"{prometheus}/api/v1/query", params={"query": "up"}, timeout=10).json()["data"]["result"]
    return bool(result) and result[0]["value"][1] == "1"


def evaluate_in_worker(broker_db: int) -> None:
    """As beat sends it every minute, to this test's own broker: its worker runs it and prints the email."""
    from mediaplatform.celery import app
    from notifications.tasks import evaluate_alerts_task

    with app.connection_for_write(url=f"{settings.REDIS_URL}/{broker_db}") as connection:
        evaluate_alerts_task.apply_async(connection=connection)


def next_alert_event(socket, event_type: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(socket.recv(timeout=max(deadline - time.monotonic(), 0.01)))
        if message.get("event_type") == event_type:
            return message


def test_failures_fire_prometheus_and_platform_alerts_that_resolve_after_recovery(tmp_path):
    assert shutil.which("promtool"), "the prometheus package (scripts/ensure_prerequisites.sh test) is missing"
    clip = write_test_video(tmp_path / "clip.mp4", seconds=2).read_bytes()
    staff = TokenFactory(user__is_staff=True, user__email="oncall@example.com")
    uploader = TokenFactory()
    started: list[live.LiveProcess] = []
    broker_db = live.spare_broker_db()
    redis.Redis.from_url(f"{settings.REDIS_URL}/{broker_db}").flushdb()
    platform_env = {**PLATFORM_ENV, "CELERY_REDIS_DB": str(broker_db)}
    try:
        web, port = live.start_web("web-alerts", extra_env=platform_env)
        started.append(web)
        worker = live.start_celery_worker("worker-alerts", extra_env=platform_env)
        started.append(worker)
        server = f"127.0.0.1:{port}"
        prometheus_process, prometheus = start_prometheus(tmp_path, target=server)
        started.append(prometheus_process)
        wait_until(lambda: scraped(prometheus), timeout=60, what="Prometheus scraping /metrics", logs=started)
        assert firing(prometheus, "MediaplatformFailedProcessingRate") == set()

        ready = requests.get(f"http://{server}/health/ready", timeout=60).json()
        assert ready["database_pool"]["pool"]["max"] == 4, ready  # tests.live gives each process a pool of 4
        assert ready["version"] and ready["alert_thresholds"]["error_rate"]["window_seconds"] == WINDOW_SECONDS

        # Only staff may follow alerts.
        other_socket = connect(f"ws://{server}/ws/alerts/", subprotocols=token_protocols(uploader), open_timeout=10)
        with other_socket, pytest.raises(ConnectionClosed) as refused:
            other_socket.recv(timeout=10)
        assert refused.value.rcvd.code == 4403

        with connect(f"ws://{server}/ws/alerts/", subprotocols=token_protocols(staff), open_timeout=10) as socket:
            assert json.loads(socket.recv(timeout=10)) == {"event_type": "subscribed", "alerts": []}

            api = requests.Session()
            api.headers["Authorization"] = f"Token {uploader.key}"
            for number in range(CORRUPT_UPLOADS):
                created = api.post(
                    f"http://{server}/api/v1/videos/",
                    files={"file": (f"cut-{number}.mp4", clip[: len(clip) // 2], "video/mp4")},
                    timeout=60,
                )
                assert created.status_code == 201, created.text
            wait_until(
                lambda: ProcessingJob.objects.filter(status=JobStatus.FAILED).count() == CORRUPT_UPLOADS,
                timeout=180,
                what="the corrupt uploads to fail",
                logs=started,
            )

            failed_at = time.monotonic()
            fired = wait_until(
                lambda: firing(prometheus, "MediaplatformFailedProcessingRate"),
                timeout=60,
                what="Prometheus to fire the failed-rate alert",
                logs=started,
            )
            fired_after = time.monotonic() - failed_at
            assert fired == {"warning", "critical"}, "every finished job failed: over both thresholds"
            metrics = requests.get(f"http://{server}/metrics", timeout=10).text
            assert "mediaplatform_processing_failed_ratio 1.0" in metrics

            evaluate_in_worker(broker_db)
            opened = next_alert_event(socket, "alert_opened")
            assert opened["alert"]["check"] in {"failed_rate", "error_rate"}
            wait_until(
                lambda: Alert.objects.filter(check_name__in=["failed_rate", "error_rate"], status="open").count() == 2,
                timeout=60,
                what="the platform's failed-rate and error-rate alerts",
                logs=started,
            )
            # The worker ran the evaluation, so its email went out there: the console backend writes it to its log.
            live.wait_for_log(worker, "Subject: [mediaplatform] CRITICAL alert opened: Failed processing rate", 60)
            live.wait_for_log(worker, "To: oncall@example.com", 10)
            failed_alert = Alert.objects.get(check_name="failed_rate")
            assert (failed_alert.severity, failed_alert.value, failed_alert.threshold) == ("critical", 1.0, 0.15)
            assert failed_alert.window_seconds == WINDOW_SECONDS

            # Recovery: no failure within the window any more.
            wait_until(
                lambda: not firing(prometheus, "MediaplatformFailedProcessingRate"),
                timeout=WINDOW_SECONDS + 60,
                what="Prometheus to resolve the failed-rate alert",
                logs=started,
            )
            prometheus_resolved_after = time.monotonic() - failed_at
            evaluate_in_worker(broker_db)
            resolved = next_alert_event(socket, "alert_resolved")
            assert resolved["alert"]["status"] == "resolved"
            wait_until(
                lambda: not Alert.objects.filter(status="open").exists(),
                timeout=60,
                what="the platform's alerts to resolve",
                logs=started,
            )
        failed_alert.refresh_from_db()
        assert failed_alert.status == "resolved" and failed_alert.last_value == 0.0
    finally:
        for process in reversed(started):
            process.stop()
    print(
        f"Prometheus fired {sorted(fired)} {fired_after:.1f}s after the test saw the last failure, resolved it "
        f"{prometheus_resolved_after:.1f}s after (window {WINDOW_SECONDS}s); the platform's alert opened at "
        f"{failed_alert.value:g} over {failed_alert.threshold:g} and resolved"
    )
