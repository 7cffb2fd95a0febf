"""An annotated video rendered by a real Celery worker, followed over the video's websocket, then decoded."""

import json
import time

import av
import numpy as np
import pytest
import requests
from websockets.sync.client import connect

from processing.annotated_render import class_colour_rgb
from tests.factories import TokenFactory
from tests.notifications.helpers import token_protocols
from tests.processing.test_annotated_video import CAR_BOX, FRAMES, completed_run, edge_colour, stored_clip_video

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

# The car's track moves right along y = 140 on the even frames from 6 to 18 (tests.processing.test_annotated_video).
TRAIL_ROWS = slice(139, 142)
TRAIL_COLUMNS = slice(186, 196)


def receive_until_rendered(socket, *, timeout: float = 180) -> list[dict]:
    ticks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = json.loads(socket.recv(timeout=deadline - time.monotonic()))
        if message.get("event_type") != "annotated_video":
            continue
        ticks.append(message["data"]["annotated_video"])
        if ticks[-1]["status"] in {"ready", "failed"}:
            return ticks
    raise AssertionError(f"no end of the render within {timeout}s; got {ticks}")


def render_through_the_worker(base, auth, socket, job, options) -> tuple[list[dict], bytes]:
    queued = requests.post(f"{base}/api/v1/jobs/{job.pk}/annotated-video/", json=options, headers=auth, timeout=30)
    assert queued.status_code == 202, queued.text
    ticks = receive_until_rendered(socket)
    assert ticks[-1]["status"] == "ready", ticks[-1]
    assert {tick["id"] for tick in ticks} == {queued.json()["id"]}
    download = requests.get(base + queued.json()["download_url"], headers=auth, timeout=30)
    assert download.status_code == 200 and download.headers["Content-Type"] == "video/mp4"
    return ticks, download.content


def frames_of(content: bytes, tmp_path, name: str) -> list[np.ndarray]:
    path = tmp_path / name
    path.write_bytes(content)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]


def test_a_worker_renders_a_tracked_run_with_trails(live_server_process, live_worker_process, tmp_path):
    token = TokenFactory()
    auth = {"Authorization": f"Token {token.key}"}
    base = f"http://{live_server_process}"
    job = completed_run(stored_clip_video(token.user, tmp_path), track=True)

    url = f"ws://{live_server_process}/ws/videos/{job.video_id}/"
    with connect(url, open_timeout=10, subprotocols=token_protocols(token)) as socket:
        assert json.loads(socket.recv(timeout=10))["event_type"] == "subscribed"
        ticks, with_trails = render_through_the_worker(base, auth, socket, job, {"trails": True})
        _, without_trails = render_through_the_worker(base, auth, socket, job, {"trails": False})

    assert [tick["status"] for tick in ticks][:2] == ["queued", "rendering"]
    progress = [tick["progress_percentage"] for tick in ticks]
    assert progress == sorted(progress) and progress[-1] == 100

    trailed = frames_of(with_trails, tmp_path, "trails.mp4")
    plain = frames_of(without_trails, tmp_path, "plain.mp4")
    assert len(trailed) == len(plain) == FRAMES, "the source's frame count"
    car = np.array(class_colour_rgb(2))
    assert np.abs(edge_colour(trailed[4], CAR_BOX) - car).max() < 40, "frame 4's box is drawn in frame 4"
    assert np.abs(edge_colour(trailed[5], CAR_BOX) - car).max() > 60, "frame 5 has no box of its own"
    # Frame 19 has no box: what the car's colour marks along its path there is the trail.
    trail = trailed[19][TRAIL_ROWS, TRAIL_COLUMNS].reshape(-1, 3).mean(axis=0)
    no_trail = plain[19][TRAIL_ROWS, TRAIL_COLUMNS].reshape(-1, 3).mean(axis=0)
    assert np.abs(trail - car).max() < 60 < np.abs(no_trail - car).max(), (trail, no_trail)
