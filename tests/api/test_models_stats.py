from datetime import timedelta

import pytest
import torch
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient
from ultralytics import YOLO

from audit.models import AuditLogEntry
from processing.models import DetectorModel
from tests.factories import TokenFactory, UserFactory, VideoFactory
from videos.models import Video

pytestmark = pytest.mark.django_db

MODELS = "/api/v1/models/"


@pytest.fixture(scope="module")
def weights_path(tmp_path_factory):
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("weights") / "tiny-detector.pt"
    YOLO("yolov8n.yaml").save(str(path))
    return path


@pytest.fixture
def staff_client(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {TokenFactory(user=UserFactory(is_staff=True)).key}")
    return client


def test_staff_registers_loading_weights_and_everyone_lists_them(staff_client, api_client, weights_path):
    upload = SimpleUploadedFile("tiny.pt", weights_path.read_bytes())
    response = staff_client.post(
        MODELS, {"name": "tiny", "version": "2", "weights": upload, "input_size": 320}, format="multipart"
    )
    assert response.status_code == 201, response.content
    assert len(response.json()["class_names"]) == 80 and len(response.json()["sha256"]) == 64
    listing = api_client.get(MODELS)
    assert listing.status_code == 200
    assert [m["name"] for m in listing.json()["results"]] == ["tiny"]
    model_id = response.json()["id"]
    patched = staff_client.patch(f"{MODELS}{model_id}/", {"is_default": True, "description": "ok"}, format="json")
    assert patched.status_code == 200 and patched.json()["is_default"] is True
    assert AuditLogEntry.objects.filter(action="detector_model.update").exists()


def test_weights_that_do_not_load_are_refused(staff_client):
    upload = SimpleUploadedFile("junk.pt", b"not a checkpoint")
    response = staff_client.post(MODELS, {"name": "junk", "weights": upload}, format="multipart")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_weights"
    assert not DetectorModel.objects.exists()


def test_non_staff_cannot_register_or_update(api_client):
    upload = SimpleUploadedFile("x.pt", b"x")
    assert api_client.post(MODELS, {"name": "x", "weights": upload}, format="multipart").status_code == 403
    assert api_client.patch(f"{MODELS}1/", {"description": "x"}, format="json").status_code == 403


def test_stats_last_24_hours_and_window(api_client):
    owner = api_client.user
    VideoFactory(owner=owner, workflow_state="completed", total_processing_seconds=10, objects_detected_count=5)
    VideoFactory(owner=owner, workflow_state="completed", total_processing_seconds=20, objects_detected_count=7)
    VideoFactory(owner=owner, workflow_state="failed")
    old = VideoFactory(owner=owner, workflow_state="completed", objects_detected_count=100)
    Video.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    VideoFactory(workflow_state="completed", objects_detected_count=1000)  # someone else's

    body = api_client.get("/api/v1/stats/").json()
    assert body["total_videos"] == 3
    assert body["videos_per_state"]["completed"] == 2 and body["videos_per_state"]["failed"] == 1
    assert body["avg_processing_time_seconds"] == 15
    assert body["total_objects_detected"] == 12

    since = (timezone.now() - timedelta(days=4)).isoformat()
    window = api_client.get("/api/v1/stats/", {"from": since}).json()
    assert window["total_objects_detected"] == 112
    bad = api_client.get("/api/v1/stats/", {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"})
    assert bad.status_code == 400
