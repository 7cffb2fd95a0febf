"""Resumable chunked uploads: open a session, append chunks, resume after a loss, get the video at the end."""

import json

import pytest

from tests.factories import UserFactory
from videos.models import Video
from videos.services.chunked_upload import chunked_upload_sweep

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture(autouse=True)
def staging(settings, tmp_path):
    """Resumable uploads collect their bytes here, outside media."""
    settings.UPLOAD_STAGING_DIR = tmp_path / "upload-staging"
    return settings.UPLOAD_STAGING_DIR


@pytest.fixture
def signed_in(client):
    client.force_login(UserFactory())
    return client


def start(client, size, **extra):
    return client.post(
        "/api/v1/uploads/",
        data=json.dumps({"filename": "../clip.mp4", "size": size, "title": "Chunked", **extra}),
        content_type="application/json",
    )


def patch(client, upload_id, offset, chunk):
    return client.patch(
        f"/api/v1/uploads/{upload_id}/",
        data=chunk,
        content_type="application/offset+octet-stream",
        HTTP_UPLOAD_OFFSET=str(offset),
    )


def test_a_file_sent_in_chunks_becomes_a_video(signed_in, video_path, media, staging):
    content = video_path.read_bytes()
    opened = start(signed_in, len(content), frame_step=2)
    assert opened.status_code == 201, opened.content
    upload_id = opened.json()["id"]
    assert opened["Upload-Offset"] == "0" and opened["Location"].endswith(f"/api/v1/uploads/{upload_id}/")
    state = json.loads((staging / upload_id / "session.json").read_text())
    assert state["size"] == len(content) and state["filename"] == "clip.mp4"

    half = len(content) // 2
    first = patch(signed_in, upload_id, 0, content[:half])
    assert first.status_code == 204 and first["Upload-Offset"] == str(half)
    head = signed_in.head(f"/api/v1/uploads/{upload_id}/")
    assert head.status_code == 200
    assert (head["Upload-Offset"], head["Upload-Length"]) == (str(half), str(len(content)))

    done = patch(signed_in, upload_id, half, content[half:])
    assert done.status_code == 201, done.content
    video = Video.objects.get(pk=done.json()["id"])
    assert video.title == "Chunked" and video.size_bytes == len(content)
    assert video.file.read() == content
    assert video.jobs.get().frame_step == 2
    assert not (staging / upload_id).exists()


def test_a_chunk_at_the_wrong_offset_is_refused_with_the_offset_to_resume_from(signed_in):
    upload_id = start(signed_in, 100).json()["id"]
    assert patch(signed_in, upload_id, 0, b"x" * 40).status_code == 204
    # The client thinks its second chunk was lost and sends it again at 0: refused, told 40.
    again = patch(signed_in, upload_id, 0, b"x" * 40)
    assert again.status_code == 409
    assert again.json()["error"]["details"]["offset"] == 40
    assert signed_in.get(f"/api/v1/uploads/{upload_id}/").json()["offset"] == 40


def test_bad_requests_get_clear_answers(signed_in, settings):
    assert start(signed_in, 0).status_code == 400
    settings.VIDEO_MAX_UPLOAD_BYTES = 10
    assert start(signed_in, 11).status_code == 413
    settings.VIDEO_MAX_UPLOAD_BYTES = 1000
    upload_id = start(signed_in, 10).json()["id"]
    assert patch(signed_in, upload_id, 0, b"x" * 11).status_code == 400  # past the declared length
    wrong_type = signed_in.patch(
        f"/api/v1/uploads/{upload_id}/", data=b"x", content_type="text/plain", HTTP_UPLOAD_OFFSET="0"
    )
    assert wrong_type.status_code == 415
    assert patch(signed_in, upload_id, "abc", b"x").status_code == 400
    # Ten bytes that are not a video: refused at the end like any upload, and the session is gone.
    assert patch(signed_in, upload_id, 0, b"not video!").status_code == 415
    assert signed_in.get(f"/api/v1/uploads/{upload_id}/").status_code == 404


def test_sessions_belong_to_their_owner(client):
    owner = UserFactory()
    client.force_login(owner)
    upload_id = start(client, 100).json()["id"]
    client.force_login(UserFactory())
    assert client.get(f"/api/v1/uploads/{upload_id}/").status_code == 404
    assert patch(client, upload_id, 0, b"x").status_code == 404
    assert client.delete(f"/api/v1/uploads/{upload_id}/").status_code == 404
    client.force_login(owner)
    assert client.delete(f"/api/v1/uploads/{upload_id}/").status_code == 204
    assert client.get(f"/api/v1/uploads/{upload_id}/").status_code == 404


def test_stale_sessions_are_swept(signed_in, media, staging):
    upload_id = start(signed_in, 100).json()["id"]
    assert chunked_upload_sweep(max_age_seconds=3600) == 0
    assert chunked_upload_sweep(max_age_seconds=-1) == 1
    assert not (staging / upload_id).exists()
