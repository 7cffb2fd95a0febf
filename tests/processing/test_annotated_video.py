"""Annotated video export through the API: permissions, bounded options, one render per options, deletion.

The worker's task body (annotated_video_render) runs in the test's process here, on a real clip and real rows;
tests/processing/test_annotated_video_worker.py renders through a real Celery worker.
"""

import os
import time
from datetime import timedelta
from pathlib import Path

import av
import numpy as np
import pytest
from django.core.files import File
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import StorageOperation
from notifications.models import OutboxEvent
from processing.annotated_render import class_colour_rgb
from processing.exports.common import ROW_CHUNK
from processing.models import AnnotatedVideo, Detection, DetectorModel, ProcessingJob
from processing.services.annotated_video import annotated_video_render
from processing.services.retention import retention_cleanup
from tests.api.factories import AccountProfileFactory
from tests.factories import ProcessingJobFactory, UserFactory, VideoFactory, add_detections
from tests.videofiles import write_test_video
from videos.models import Video

pytestmark = pytest.mark.django_db

CLASSES = {0: "person", 1: "bicycle", 2: "car"}
FRAMES = 20
# Frame 4's car: the test looks for the car's colour along its top edge in the rendered frame 4.
CAR_BOX = (100, 80, 220, 200)


def stored_clip_video(owner, tmp_path, **fields) -> Video:
    clip = write_test_video(tmp_path / "street.mp4", seconds=FRAMES / 10, fps=10, width=320, height=240)
    video = VideoFactory(
        owner=owner,
        workflow_state="completed",
        mime_type="video/mp4",
        width=320,
        height=240,
        fps=10,
        frame_count=FRAMES,
        **fields,
    )
    with clip.open("rb") as handle:
        video.file.save("street.mp4", File(handle))
    return video


def completed_run(video, *, track: bool = False) -> ProcessingJob:
    model, _ = DetectorModel.objects.get_or_create(
        name="street", defaults={"weights": "models/street.pt", "class_names": {str(k): v for k, v in CLASSES.items()}}
    )
    job = ProcessingJobFactory(
        video=video, detector_model=model, status="completed", track=track, finished_at=timezone.now()
    )
    rows = [(4, 2, 0.9, CAR_BOX, 7), (4, 0, 0.3, (10, 10, 40, 60), 8)]
    rows += [(frame, 2, 0.8, (100 + 4 * frame, 80, 220 + 4 * frame, 200), 7) for frame in range(6, FRAMES, 2)]
    if not track:
        rows = [row[:4] for row in rows]
    add_detections(job, rows, class_names=CLASSES)
    return job


@pytest.fixture
def own_media_root(settings, tmp_path):
    """A media folder of the test's own: files other tests left behind are not counted in its cleanup."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def run(api_client, tmp_path):
    return completed_run(stored_clip_video(api_client.user, tmp_path), track=True)


def url(job) -> str:
    return f"/api/v1/jobs/{job.pk}/annotated-video/"


def decoded_frames(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(container.streams.video[0])]


def edge_colour(frame: np.ndarray, box) -> np.ndarray:
    """The mean colour of the box's top edge, two pixels deep (the outline is drawn there)."""
    x1, y1, x2, _y2 = box
    return frame[y1 : y1 + 2, x1 + 10 : x2 - 10].reshape(-1, 3).mean(axis=0)


def test_a_render_is_queued_drawn_then_served(api_client, run, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        queued = api_client.post(url(run), {"classes": ["car"], "min_confidence": 0.5, "trails": True}, format="json")
    assert queued.status_code == 202, queued.content
    body = queued.json()
    assert body["status"] == "queued" and body["options"] == {"classes": ["car"], "min_confidence": 0.5, "trails": True}
    assert len(callbacks) >= 1, "the task is sent once the request has committed"
    assert api_client.get(body["download_url"]).status_code == 202, "still rendering"

    annotated_video_render(render_id=body["id"])  # what the worker's task does

    response = api_client.get(body["download_url"])
    assert response.status_code == 200 and response["Content-Type"] == "video/mp4"
    assert "attachment" in response["Content-Disposition"]
    target = Path(api_client.user.username + ".mp4")
    try:
        target.write_bytes(b"".join(response.streaming_content))
        frames = decoded_frames(target)
    finally:
        target.unlink(missing_ok=True)
    assert len(frames) == FRAMES
    assert np.abs(edge_colour(frames[4], CAR_BOX) - class_colour_rgb(2)).max() < 40, "the car's box is drawn"
    assert np.abs(edge_colour(frames[5], CAR_BOX) - class_colour_rgb(2)).max() > 60, "frame 5 has no box"
    person = (10, 10, 40, 60)
    assert np.abs(edge_colour(frames[4], person) - class_colour_rgb(0)).max() > 60, "person is filtered out"

    render = AnnotatedVideo.objects.get()
    assert (render.status, render.frames_done, render.progress_percentage) == ("ready", FRAMES, 100)
    ticks = [e.payload["data"]["annotated_video"] for e in OutboxEvent.objects.filter(event_type="annotated_video")]
    assert [t["status"] for t in ticks][:2] == ["queued", "rendering"] and ticks[-1]["status"] == "ready"
    progress = [t["progress_percentage"] for t in ticks]
    assert progress == sorted(progress) and 2 < len(ticks) <= 13
    assert StorageOperation.objects.filter(operation="upload", path=render.file.name, success=True).exists()
    assert StorageOperation.objects.filter(operation="access", path=render.file.name).exists()


def test_the_same_options_reuse_the_render(api_client, run, django_capture_on_commit_callbacks):
    first = api_client.post(url(run), {"classes": ["car"], "trails": True}, format="json").json()
    annotated_video_render(render_id=first["id"])
    with django_capture_on_commit_callbacks() as callbacks:
        again = api_client.post(
            url(run), {"trails": True, "classes": ["car", "car"], "min_confidence": 0}, format="json"
        )
    assert again.status_code == 200 and again.json()["id"] == first["id"] and again.json()["status"] == "ready"
    assert not callbacks, "nothing is queued again"
    # Every class named draws what no filter draws; other options are another file.
    every = api_client.post(url(run), {"classes": list(CLASSES.values()), "trails": True}, format="json").json()
    none_named = api_client.post(url(run), {"trails": True}, format="json").json()
    assert every["id"] == none_named["id"] != first["id"]
    assert api_client.post(url(run), {"classes": ["car"], "trails": False}, format="json").json()["id"] != first["id"]
    assert AnnotatedVideo.objects.count() == 3


def test_trails_on_an_untracked_run_are_the_plain_render(api_client, tmp_path):
    job = completed_run(stored_clip_video(api_client.user, tmp_path), track=False)
    with_trails = api_client.post(url(job), {"trails": True}, format="json").json()
    assert with_trails["options"]["trails"] is False
    assert api_client.post(url(job), {}, format="json").json()["id"] == with_trails["id"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"min_confidence": 1.5}, "min_confidence"),
        ({"min_confidence": -0.1}, "min_confidence"),
        ({"min_confidence": "lots"}, "min_confidence"),
        ({"classes": "car"}, "classes"),
        ({"classes": ["x" * 101]}, "classes"),
        ({"classes": ["car"] * 201}, "classes"),
        ({"trails": "sometimes"}, "trails"),
    ],
)
def test_options_out_of_bounds_are_refused(api_client, run, payload, field):
    response = api_client.post(url(run), payload, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["message"]
    assert not AnnotatedVideo.objects.exists()


def test_a_class_the_model_lacks_is_refused_by_name(api_client, run):
    response = api_client.post(url(run), {"classes": ["car", "unicorn"]}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert "unicorn" in error["message"] and error["details"]["unknown"] == ["unicorn"]
    assert set(error["details"]["allowed"]) == {"person", "bicycle", "car"}
    assert api_client.get(url(run), {"classes": "unicorn"}).status_code == 400


def test_other_users_runs_and_unfinished_runs(api_client, run):
    stranger = APIClient()
    stranger.force_authenticate(UserFactory())
    assert stranger.post(url(run), {}, format="json").status_code == 404
    assert stranger.get(url(run)).status_code == 404
    assert APIClient().post(url(run), {}, format="json").status_code in (401, 403)
    assert api_client.get(url(run)).status_code == 404, "nothing requested yet"
    ProcessingJob.objects.filter(pk=run.pk).update(status="running")
    refused = api_client.post(url(run), {}, format="json")
    assert refused.status_code == 409 and refused.json()["error"]["details"]["state"] == "running"
    assert not AnnotatedVideo.objects.exists()


def test_a_failed_render_says_why_and_is_tried_again(api_client, run, django_capture_on_commit_callbacks):
    body = api_client.post(url(run), {}, format="json").json()
    Path(run.video.file.path).write_bytes(b"not a video any more")
    assert annotated_video_render(render_id=body["id"]).status == "failed"
    failed = api_client.get(body["download_url"])
    assert failed.status_code == 409 and failed.json()["error"]["code"] == "render_failed"
    with django_capture_on_commit_callbacks() as callbacks:
        again = api_client.post(url(run), {}, format="json")
    assert again.status_code == 202 and again.json()["status"] == "queued" and callbacks
    assert not list(Path(run.video.file.path).parent.glob("*.part")), "no partial file is left behind"


def test_deleting_the_run_removes_its_files(api_client, run, django_capture_on_commit_callbacks):
    body = api_client.post(url(run), {}, format="json").json()
    render = annotated_video_render(render_id=body["id"])
    path = Path(render.file.path)
    assert path.is_file() and path.parent == Path(run.video.file.path).parent, "stored with the video's files"
    with django_capture_on_commit_callbacks(execute=True):
        ProcessingJob.objects.filter(pk=run.pk).delete()
    assert not path.exists()
    assert StorageOperation.objects.filter(operation="delete", path=render.file.name, success=True).exists()


@pytest.fixture
def rendered_here(monkeypatch):
    """Committed tests render in this process: once the suite's own worker runs, a render queued on the shared
    broker could be taken by it (under its own media folder) before the test draws it."""
    from processing.services import annotated_video

    monkeypatch.setattr(annotated_video, "_enqueue", lambda render_id: None)


@pytest.mark.django_db(transaction=True)
def test_retention_counts_and_removes_renders_with_their_video(own_media_root, api_client, run, capsys, rendered_here):
    # Committed for real: the purge removes the files as each batch commits, before its sweep for orphans.
    render = annotated_video_render(render_id=api_client.post(url(run), {}, format="json").json()["id"])
    original = Path(run.video.file.path)
    Video.objects.filter(pk=run.video_id).update(deleted_at=timezone.now() - timedelta(days=400))
    # An old render is not an orphan: the sweep of files no row names leaves it alone.
    old = time.time() - 7200
    os.utime(render.file.path, (old, old))

    call_command("cleanup", "--dry-run")
    expected = original.stat().st_size + render.size_bytes
    assert f"bytes freed: {expected} " in capsys.readouterr().out
    assert Path(render.file.path).exists()

    report = retention_cleanup()
    assert report.bytes_freed == expected and not report.orphan_files
    assert not Path(render.file.path).exists() and not original.exists()
    assert not AnnotatedVideo.objects.exists() and not Detection.objects.exists()


def test_renders_are_not_orphans(own_media_root, api_client, run):
    render = annotated_video_render(render_id=api_client.post(url(run), {}, format="json").json()["id"])
    old = time.time() - 7200
    os.utime(render.file.path, (old, old))
    os.utime(run.video.file.path, (old, old))
    assert retention_cleanup(dry_run=True).orphan_files == []


def test_the_choices_of_a_run_and_a_json_client_told_it_is_ready(api_client, run):
    choices = api_client.get(url(run) + "choices/").json()
    assert choices == {
        "job_id": str(run.pk),
        "job_status": "completed",
        "classes": ["bicycle", "car", "person"],
        "tracked": True,
    }
    body = api_client.post(url(run), {"min_confidence": 0.5}, format="json").json()
    annotated_video_render(render_id=body["id"])
    # A page polling the render asks for JSON: it is told where the file is rather than sent it.
    told = api_client.get(body["download_url"], HTTP_ACCEPT="application/json")
    assert told.status_code == 200 and told.json()["status"] == "ready" and told.json()["size_bytes"] > 0
    stranger = APIClient()
    stranger.force_authenticate(UserFactory())
    assert stranger.get(url(run) + "choices/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_run_of_many_boxes_streams_through_commits(api_client, tmp_path, rendered_here):
    # More rows than one fetch of the server-side cursor, read across the commits of the progress ticks.
    job = completed_run(stored_clip_video(api_client.user, tmp_path), track=True)
    rows = [(frame, 1, 0.6, (5 + n, 5, 25 + n, 25), 100 + n) for frame in range(FRAMES) for n in range(250)]
    add_detections(job, rows, class_names=CLASSES)
    assert Detection.objects.filter(job=job).count() > 2 * ROW_CHUNK
    body = api_client.post(url(job), {"trails": True}, format="json").json()
    render = annotated_video_render(render_id=body["id"])
    assert render.status == "ready" and render.frames_done == FRAMES, render.error
    ticks = OutboxEvent.objects.filter(event_type="annotated_video").count()
    assert ticks >= 5, "progress was committed while the boxes were being read"


def test_staff_list_renders_in_the_admin(client, run, api_client):
    render = annotated_video_render(render_id=api_client.post(url(run), {}, format="json").json()["id"])
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    listing = client.get("/admin/processing/annotatedvideo/")
    assert listing.status_code == 200 and str(run.pk) in listing.content.decode()
    assert client.get(f"/admin/processing/annotatedvideo/{render.pk}/change/").status_code == 200


def test_a_viewer_downloads_but_does_not_ask_for_renders(api_client, run):
    body = api_client.post(url(run), {}, format="json").json()
    annotated_video_render(render_id=body["id"])
    viewer = AccountProfileFactory(role="viewer", user=api_client.user)
    assert viewer.role == "viewer"
    refused = api_client.post(url(run), {"min_confidence": 0.9}, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["message"] == "Your role (viewer) may only read."
    assert api_client.get(body["download_url"]).status_code == 200


def test_a_task_sent_twice_draws_once_and_a_stalled_render_is_taken_over(api_client, run):
    body = api_client.post(url(run), {}, format="json").json()
    AnnotatedVideo.objects.filter(pk=body["id"]).update(status="rendering")
    assert annotated_video_render(render_id=body["id"]).status == "rendering", "another worker is drawing it"
    assert not AnnotatedVideo.objects.get(pk=body["id"]).file
    # No progress for longer than a drawing ever pauses: its worker is gone. Asking again queues it again...
    AnnotatedVideo.objects.filter(pk=body["id"]).update(updated_at=timezone.now() - timedelta(minutes=11))
    again = api_client.post(url(run), {}, format="json")
    assert again.status_code == 202 and again.json()["status"] == "queued" and again.json()["id"] == body["id"]
    # ...and a worker finding it still marked rendering takes it over.
    AnnotatedVideo.objects.filter(pk=body["id"]).update(
        status="rendering", updated_at=timezone.now() - timedelta(minutes=11)
    )
    assert annotated_video_render(render_id=body["id"]).status == "ready"
