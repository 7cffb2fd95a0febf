import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from audit.models import AuditLogEntry
from notifications.models import OutboxEvent
from processing.models import ProcessingJob
from tests.factories import UserFactory, VideoFactory
from videos.models import Video

pytestmark = pytest.mark.django_db

URL = "/api/v1/videos/"


def stored_files(root) -> set:
    return {path for path in root.rglob("*") if path.is_file()}


def upload(client, name: str, content: bytes, **fields):
    return client.post(URL, {"file": SimpleUploadedFile(name, content), **fields}, format="multipart")


def test_upload_stores_hashes_and_queues_the_video(api_client, video_path, settings):
    content = video_path.read_bytes()
    response = upload(api_client, "street.mp4", content, title="Street", frame_step=3)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "uploaded"
    video = Video.objects.get(pk=body["id"])
    assert video.owner == api_client.user
    assert video.file_hash == hashlib.sha256(content).hexdigest() == body["file_hash"]
    assert video.size_bytes == len(content)
    assert video.mime_type == "video/mp4"
    assert video.file.read() == content
    assert str(settings.MEDIA_ROOT) in video.file.path
    job = ProcessingJob.objects.get(video=video)
    assert (job.frame_step, job.status) == (3, "queued")
    events = list(OutboxEvent.objects.filter(video=video).order_by("seq").values_list("seq", "event_type"))
    assert events == [(1, "upload_started"), (2, "upload_completed")]
    assert AuditLogEntry.objects.filter(object_id=str(video.pk), action="video.create").exists()


def test_upload_needs_authentication(client, video_path):
    response = client.post(URL, {"file": SimpleUploadedFile("a.mp4", video_path.read_bytes())})
    assert response.status_code in (401, 403)
    assert "error" in response.json()
    assert not Video.objects.exists()


@pytest.mark.parametrize(
    ("name", "content", "status", "code"),
    [
        ("empty.mp4", b"", 400, "empty_file"),
        ("notes.mp4", b"these are meeting notes, not a video\n" * 20, 415, "unsupported_media_type"),
        ("picture.mp4", b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, 415, "unsupported_media_type"),
    ],
)
def test_bad_uploads_get_a_clear_4xx_and_store_nothing(api_client, name, content, status, code, settings):
    existing = VideoFactory(owner=api_client.user, workflow_state="completed")
    files_before = stored_files(settings.MEDIA_ROOT)

    response = upload(api_client, name, content)

    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert list(Video.objects.values_list("pk", flat=True)) == [existing.pk]
    assert stored_files(settings.MEDIA_ROOT) == files_before


def test_upload_without_a_file_explains_the_field(api_client):
    response = api_client.post(URL, {"title": "nothing"}, format="multipart")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "file_missing"


def test_invalid_frame_step_is_refused(api_client, video_path):
    response = upload(api_client, "a.mp4", video_path.read_bytes(), frame_step=0)
    assert response.status_code == 400
    assert "frame_step" in response.json()["error"]["message"]


def test_path_traversal_filename_never_reaches_the_disk(api_client, video_path, settings):
    response = upload(api_client, "../../../etc/evil.mp4", video_path.read_bytes())
    assert response.status_code == 201
    video = Video.objects.get(pk=response.json()["id"])
    assert video.original_filename == "evil.mp4"
    assert video.file.path.startswith(str(settings.MEDIA_ROOT))


def test_token_endpoint_returns_a_working_token(client, user):
    response = client.post("/api/v1/auth/token/", {"username": user.username, "password": "correct-horse-battery"})
    assert response.status_code == 200
    token = response.json()["token"]
    listing = client.get(URL, HTTP_AUTHORIZATION=f"Token {token}")
    assert listing.status_code == 200


def test_token_endpoint_refuses_wrong_password(client, user):
    response = client.post("/api/v1/auth/token/", {"username": user.username, "password": "nope"})
    assert response.status_code == 400
    assert response.json()["error"]["message"]


def test_list_shows_only_own_videos_paginated(api_client):
    own = VideoFactory.create_batch(3, owner=api_client.user)
    VideoFactory()  # someone else's
    response = api_client.get(URL, {"per_page": 2})
    body = response.json()
    assert response.status_code == 200
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert {row["id"] for row in body["results"]} <= {str(v.pk) for v in own}


def test_another_users_video_answers_404(api_client):
    other = VideoFactory()
    assert api_client.get(f"{URL}{other.pk}/").status_code == 404
    assert api_client.get(f"{URL}{other.pk}/detections/").status_code == 404


def test_staff_can_read_any_video(api_client):
    other = VideoFactory()
    staff_client = APIClient()
    staff_client.force_authenticate(UserFactory(is_staff=True))
    response = staff_client.get(f"{URL}{other.pk}/")
    assert response.status_code == 200
