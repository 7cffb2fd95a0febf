"""The media analysis API end to end: the real web front answers at once, a real worker downloads and analyses.

The media come from an HTTP server on loopback (the platform's processes started by the suite allow loopback
imports); what the download refuses or fails on ends the analysis as failed, with the reason in its status.
"""

import http.server
import io
import threading
import time

import numpy as np
import pytest
import requests
from PIL import Image

from processing.models import ProcessingJob
from tests.factories import TokenFactory
from tests.videofiles import write_test_video
from videos.models import MediaAnalysisRequest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

TERMINAL = {"completed", "failed"}


@pytest.fixture
def media_server(tmp_path):
    """A clip, a PNG still, a text file and a URL that redirects to the cloud metadata address."""
    still = io.BytesIO()
    picture = np.zeros((181, 243, 3), dtype=np.uint8)
    picture[40:140, 60:180] = (200, 40, 40)
    Image.fromarray(picture).save(still, format="PNG")
    bodies = {
        "/clip.mp4": write_test_video(tmp_path / "clip.mp4", seconds=1, fps=10).read_bytes(),
        "/still.png": still.getvalue(),
        "/notes.txt": b"not media at all\n" * 100,
    }

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/metadata":
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.end_headers()
                return
            body = bodies.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def api(live_server_process, live_worker_process):
    session = requests.Session()
    session.headers["Authorization"] = f"Token {TokenFactory().key}"
    session.base = f"http://{live_server_process}/api/media"
    return session


def analyze(api, **fields) -> str:
    response = api.post(f"{api.base}/analyze", json=fields, timeout=10)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"
    return response.json()["analysis_id"]


def status_when_settled(api, analysis_id: str, *, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(f"{api.base}/status/{analysis_id}", timeout=10).json()
        if body["status"] in TERMINAL:
            return body
        time.sleep(0.5)
    raise AssertionError(f"analysis {analysis_id} still {body['status']} after {timeout}s")


def test_a_video_is_downloaded_by_the_worker_and_its_status_answers_the_prompt(api, media_server):
    analysis_id = analyze(
        api,
        prompt="Count the people and cars. Any drones?",
        media_url=f"{media_server}/clip.mp4",
        media_type="video",
        config={"frame_step": 2, "track": True},
    )

    body = status_when_settled(api, analysis_id)

    assert body["status"] == "completed", body
    assert body["media_type"] == "video" and body["progress"] == 100
    prompt = body["result_summary"]["prompt"]
    assert prompt["asked_classes"] == ["person", "car"] and prompt["unmatched_words"] == ["drones"]
    assert set(prompt["answers"]) == {"person", "car"} and prompt["tracked"] is True
    for answer in prompt["answers"].values():
        assert answer["tracks"] is not None and answer["tracks"] <= answer["detections"]
        if answer["detections"]:
            assert 0 <= answer["first_seen_seconds"] <= answer["last_seen_seconds"] <= 1
    job = ProcessingJob.objects.get(video_id=analysis_id)
    assert (job.frame_step, job.track, job.classes) == (2, True, ["car", "person"])
    assert MediaAnalysisRequest.objects.get(analysis_id=analysis_id).fetch_finished_at is not None


def test_an_image_is_analysed_as_a_single_frame(api, media_server):
    analysis_id = analyze(api, prompt="", media_url=f"{media_server}/still.png", media_type="image")

    body = status_when_settled(api, analysis_id)

    assert body["status"] == "completed", body
    assert body["media_type"] == "image"
    job = ProcessingJob.objects.select_related("video").get(video_id=analysis_id)
    assert (job.video.frame_count, job.video.width, job.video.height) == (1, 242, 180)
    assert job.processed_frames == 1
    for answer in body["result_summary"]["prompt"]["answers"].values():
        assert answer["first_seen_seconds"] == answer["last_seen_seconds"] == 0.0


@pytest.mark.parametrize(
    ("path", "media_type", "reason"),
    [
        ("/notes.txt", "video", "does not serve a video container"),
        ("/notes.txt", "image", "does not serve an image"),
        ("/gone.mp4", "video", "answered HTTP 404"),
        ("/metadata", "video", "may not be sent to"),
    ],
)
def test_a_failed_download_fails_the_analysis_with_the_reason(api, media_server, path, media_type, reason):
    analysis_id = analyze(api, prompt="cars", media_url=f"{media_server}{path}", media_type=media_type)

    body = status_when_settled(api, analysis_id, timeout=120)

    assert body["status"] == "failed"
    assert reason in body["error_message"], body["error_message"]
