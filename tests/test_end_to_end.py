"""Upload through the real server, process in a real worker, follow it over a real websocket."""

import json
import time

import pytest
import requests
from websockets.sync.client import connect

from audit.models import AuditLogEntry
from processing.models import Detection
from tests.factories import TokenFactory
from tests.notifications.helpers import token_protocols
from tests.videofiles import write_test_video

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

TERMINAL = {"processing_completed", "processing_failed"}


def receive_until_terminal(socket, *, timeout: float = 180) -> list[dict]:
    events = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = json.loads(socket.recv(timeout=deadline - time.monotonic()))
        if "seq" not in message:
            continue
        events.append(message)
        if message["event_type"] in TERMINAL:
            return events
    raise AssertionError(f"no terminal event within {timeout}s; got {[e['event_type'] for e in events]}")


def test_upload_is_processed_and_followed_live(live_server_process, live_worker_process, tmp_path):
    token = TokenFactory()
    auth = {"Authorization": f"Token {token.key}"}
    base = f"http://{live_server_process}"
    clip = write_test_video(tmp_path / "street.mp4", seconds=3, fps=10)

    # A single-use ticket, as a client without cookies or protocol headers connects: no token in the URL.
    ticket = requests.post(f"{base}/api/v1/ws-ticket/", headers=auth, timeout=10).json()["ticket"]
    with connect(f"ws://{live_server_process}/ws/videos/?ticket={ticket}", open_timeout=10) as socket:
        assert json.loads(socket.recv(timeout=10))["event_type"] == "subscribed"
        with clip.open("rb") as handle:
            response = requests.post(
                f"{base}/api/v1/videos/",
                headers={**auth, "X-Request-ID": "e2e-upload-request"},
                files={"file": ("street.mp4", handle, "video/mp4")},
                data={"title": "Street", "frame_step": "2"},
                timeout=30,
            )
        assert response.status_code == 201, response.text
        video_id = response.json()["id"]
        events = receive_until_terminal(socket)

    assert {e["video_id"] for e in events} == {video_id}
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1)), "events arrive in order with no gap"
    kinds = [e["event_type"] for e in events]
    assert kinds[:3] == ["upload_started", "upload_completed", "processing_started"]
    assert kinds[-1] == "processing_completed", events[-1]
    progress = [e["data"]["progress_percentage"] for e in events if e["event_type"] == "processing_progress"]
    assert progress and progress == sorted(progress)
    assert [e["state"] for e in events if e["event_type"] == "processing_progress"][-1] == "processing"

    detail = requests.get(f"{base}/api/v1/videos/{video_id}/", headers=auth, timeout=10).json()
    stored = Detection.objects.filter(job__video_id=video_id).count()
    assert detail["state"] == "completed"
    assert detail["objects_detected_count"] == stored > 0
    assert detail["frame_count"] == 30
    assert detail["latest_job"]["processed_frames"] == 15
    detections = requests.get(f"{base}/api/v1/videos/{video_id}/detections/", headers=auth, timeout=10).json()
    assert detections["count"] == stored
    assert events[-1]["data"]["objects_detected"] == stored
    # The request id followed the work from the upload into the worker's task.
    assert {e["request_id"] for e in events} == {"e2e-upload-request"}, "live events name the request too"
    worker_rows = AuditLogEntry.objects.filter(request_id="e2e-upload-request", actor_label="system")
    assert {"processing", "completed"} <= {row.new_values.get("workflow_state") for row in worker_rows}


def test_a_per_video_socket_sees_a_bad_file_fail(live_server_process, live_worker_process, tmp_path):
    token = TokenFactory()
    auth = {"Authorization": f"Token {token.key}"}
    base = f"http://{live_server_process}"
    content = write_test_video(tmp_path / "cut.mp4", seconds=2).read_bytes()
    response = requests.post(
        f"{base}/api/v1/videos/",
        headers=auth,
        files={"file": ("cut.mp4", content[: len(content) // 2], "video/mp4")},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    video_id = response.json()["id"]

    url = f"ws://{live_server_process}/ws/videos/{video_id}/"
    with connect(url, open_timeout=10, subprotocols=token_protocols(token)) as socket:
        assert json.loads(socket.recv(timeout=10))["event_type"] == "subscribed"
        detail = requests.get(f"{base}/api/v1/videos/{video_id}/", headers=auth, timeout=10).json()
        if detail["state"] != "failed":
            events = receive_until_terminal(socket, timeout=120)
            assert events[-1]["event_type"] == "processing_failed"
            assert "not a decodable video" in events[-1]["data"]["error_message"]

    detail = requests.get(f"{base}/api/v1/videos/{video_id}/", headers=auth, timeout=10).json()
    assert detail["state"] == "failed"
    assert "not a decodable video" in detail["last_error_message"]
