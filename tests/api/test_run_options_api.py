"""Run options through the API: the upload (multipart, JSON URL import, resumable), and another run."""

from pathlib import Path

import pytest

from processing.models import DetectorModel, ProcessingJob
from tests.processing.running import settle
from videos.models import Video

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_default(settings):
    """The bundled demo model (box, disc, triangle, ring, cross) as the default, registered on first use."""
    settings.DETECTOR_WEIGHTS = str(Path(settings.BASE_DIR) / "processing" / "weights" / "default-detector.pt")


def upload(api_client, video_path, **fields):
    with open(video_path, "rb") as handle:
        return api_client.post("/api/v1/videos/", {"file": handle, **fields}, format="multipart")


def test_upload_stores_its_first_runs_options(api_client, video_path, demo_default):
    response = upload(
        api_client,
        video_path,
        classes="ring, box",
        confidence="0.55",
        frame_step="3",
        start_frame="2",
        end_frame="15",
        max_fps="8",
        track="true",
    )

    assert response.status_code == 201, response.content
    job = response.json()["latest_job"]
    assert job["classes"] == ["box", "ring"]
    assert job["confidence"] == 0.55
    assert job["model_name"] == str(DetectorModel.objects.get(is_default=True))
    assert job["reused_from"] is None
    stored = ProcessingJob.objects.get(pk=job["id"])
    assert (stored.frame_step, stored.start_frame, stored.end_frame, stored.max_fps, stored.track) == (
        3,
        2,
        15,
        8.0,
        True,
    )
    assert stored.config["confidence"] == 0.55


def test_repeated_form_classes_are_one_list(api_client, video_path, demo_default):
    response = upload(api_client, video_path, classes=["ring", "cross"])

    assert response.status_code == 201, response.content
    assert response.json()["latest_job"]["classes"] == ["cross", "ring"]


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"classes": "ring,person"}, "classes"),
        ({"confidence": "0"}, "confidence"),
        ({"model": "no-such-model"}, "model"),
        ({"start_frame": "9", "end_frame": "2"}, "end_frame"),
    ],
)
def test_a_bad_option_refuses_the_upload_and_stores_nothing(api_client, video_path, demo_default, fields, field):
    response = upload(api_client, video_path, **fields)

    assert response.status_code == 400, response.content
    body = response.json()["error"]
    assert field in body["details"]
    assert not Video.objects.exists()


def test_unknown_classes_are_named_in_the_refusal(api_client, video_path, demo_default):
    response = upload(api_client, video_path, classes="ring,person,car")

    assert response.status_code == 400
    details = response.json()["error"]["details"]
    assert details["unknown_classes"] == ["car", "person"] and "classes" in details


def test_resumable_upload_carries_the_options_to_the_video(api_client, video_path, demo_default):
    content = video_path.read_bytes()
    bad = api_client.post(
        "/api/v1/uploads/", {"filename": "clip.mp4", "size": len(content), "classes": ["person"]}, format="json"
    )
    assert bad.status_code == 400 and "classes" in bad.json()["error"]["details"]

    start = api_client.post(
        "/api/v1/uploads/",
        {"filename": "clip.mp4", "size": len(content), "classes": ["disc"], "confidence": 0.6, "frame_step": 4},
        format="json",
    )
    assert start.status_code == 201, start.content
    finished = api_client.generic(
        "PATCH",
        start.json()["url"],
        content,
        content_type="application/offset+octet-stream",
        HTTP_UPLOAD_OFFSET="0",
    )

    assert finished.status_code == 201, finished.content
    job = finished.json()["latest_job"]
    assert (job["classes"], job["confidence"], job["frame_step"]) == (["disc"], 0.6, 4)


def test_another_run_takes_options_and_reuses_only_an_identical_request(api_client, video_path, demo_default):
    created = upload(api_client, video_path, frame_step="2", classes="ring")
    assert created.status_code == 201, created.content
    video_id = created.json()["id"]
    first = settle(created.json()["latest_job"]["id"])
    assert first.status == "completed"
    url = f"/api/v1/videos/{video_id}/jobs/"

    refused = api_client.post(url, {"classes": ["pedestrian"]}, format="json")
    assert refused.status_code == 400 and "classes" in refused.json()["error"]["details"]

    identical = api_client.post(url, {"frame_step": 2, "classes": ["ring"]}, format="json")
    assert identical.status_code == 201, identical.content
    assert settle(identical.json()["id"]).reused_from_id == first.pk
    shown = api_client.get(f"/api/v1/jobs/{identical.json()['id']}/").json()
    assert shown["reused_from"] == str(first.pk)

    other = api_client.post(url, {"frame_step": 2, "classes": ["ring", "box"], "confidence": 0.5}, format="json")
    assert other.status_code == 201, other.content
    run = settle(other.json()["id"])
    assert run.reused_from_id is None and run.classes == ["box", "ring"] and run.confidence == 0.5


def test_upload_and_another_run_carry_their_priority(api_client, video_path, demo_default):
    response = upload(api_client, video_path, priority="urgent")
    assert response.status_code == 201, response.content
    first = response.json()["latest_job"]
    assert first["priority"] == "urgent"
    assert response.json()["priority"] == "urgent"  # the video's, set by its first run
    settle(first["id"])

    again = api_client.post(f"/api/v1/videos/{response.json()['id']}/jobs/", {"priority": "low"}, format="json")
    assert again.status_code == 201, again.content
    assert again.json()["priority"] == "low"
    settle(again.json()["id"])


def test_an_unknown_priority_stores_nothing(api_client, video_path, demo_default):
    response = upload(api_client, video_path, priority="whenever")

    assert response.status_code == 400
    assert "priority" in response.json()["error"]["details"]
    assert not Video.objects.exists()
