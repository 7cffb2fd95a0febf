"""The tus 1.0 endpoints through Django: creation, core, checksum, termination, expiration, the version handshake."""

import base64
import fcntl
import hashlib
import os
import threading
import time
import tracemalloc

import pytest

from processing.tasks import retention_cleanup_task
from tests.factories import TokenFactory, UserFactory
from videos.models import Video
from videos.services import tus_upload

pytestmark = pytest.mark.django_db

TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}


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


def metadata(**values) -> str:
    return ",".join(f"{key} {base64.b64encode(str(value).encode()).decode()}" for key, value in values.items())


def create(client, length, body=None, **meta):
    extra = {"HTTP_UPLOAD_LENGTH": str(length), "HTTP_UPLOAD_METADATA": metadata(**meta), **TUS}
    return post(client, body or b"", **extra)


def post(client, body=b"", **extra):
    """A creation request as tus clients send it: no body, or the first bytes (creation-with-upload)."""
    return client.generic("POST", "/api/v1/tus/", body, content_type="application/offset+octet-stream", **extra)


def path_of(response) -> str:
    return "/" + response["Location"].split("/", 3)[3]


def patch(client, path, offset, chunk, checksum=None, **extra):
    if checksum is not None:
        extra["HTTP_UPLOAD_CHECKSUM"] = "sha256 " + base64.b64encode(checksum).decode()
    return client.patch(
        path, data=chunk, content_type="application/offset+octet-stream", HTTP_UPLOAD_OFFSET=str(offset), **TUS, **extra
    )


def test_a_file_sent_in_two_patches_with_checksums_becomes_a_video_with_its_metadata(
    signed_in, video_path, media, staging
):
    content = video_path.read_bytes()
    created = create(signed_in, len(content), filename="../holiday.mp4", title="Holiday", frame_step=2, track="true")
    assert created.status_code == 201, created.content
    assert created["Tus-Resumable"] == "1.0.0" and created["Upload-Offset"] == "0"
    assert created["Location"].startswith("http://testserver/api/v1/tus/") and created["Upload-Expires"].endswith("GMT")
    path = path_of(created)

    half = len(content) // 2
    first = patch(signed_in, path, 0, content[:half], checksum=hashlib.sha256(content[:half]).digest())
    assert first.status_code == 204, first.content
    assert first["Upload-Offset"] == str(half) and "Video-Id" not in first
    head = signed_in.head(path, **TUS)
    assert head.status_code == 200 and head["Cache-Control"] == "no-store"
    assert (head["Upload-Offset"], head["Upload-Length"]) == (str(half), str(len(content)))

    done = patch(signed_in, path, half, content[half:], checksum=hashlib.sha256(content[half:]).digest())
    assert done.status_code == 204, done.content
    assert done["Upload-Offset"] == str(len(content))
    video = Video.objects.get(pk=done["Video-Id"])
    assert done["Video-Location"] == f"/api/v1/videos/{video.pk}/"
    assert (video.title, video.original_filename) == ("Holiday", "holiday.mp4")
    assert video.file_hash == hashlib.sha256(content).hexdigest() and video.file.read() == content
    job = video.jobs.get()
    assert job.frame_step == 2
    assert signed_in.head(path, **TUS).status_code == 404
    assert not list(staging.iterdir())


def test_creation_with_upload_takes_the_whole_file_in_the_post(signed_in, video_path):
    content = video_path.read_bytes()
    created = create(signed_in, len(content), body=content, filename="whole.mp4")
    assert created.status_code == 201, created.content
    assert created["Upload-Offset"] == str(len(content))
    video = Video.objects.get(pk=created["Video-Id"])
    assert video.title == "whole" and video.file_hash == hashlib.sha256(content).hexdigest()


def test_a_patch_at_the_wrong_offset_is_refused_with_409(signed_in):
    path = path_of(create(signed_in, 100, filename="a.mp4"))
    assert patch(signed_in, path, 0, b"x" * 40).status_code == 204
    again = patch(signed_in, path, 0, b"x" * 40)
    assert again.status_code == 409 and again["Tus-Resumable"] == "1.0.0"
    assert again.json()["error"]["details"]["offset"] == 40
    assert signed_in.head(path, **TUS)["Upload-Offset"] == "40"


def test_a_checksum_mismatch_is_460_and_the_bytes_do_not_count(signed_in):
    path = path_of(create(signed_in, 100, filename="a.mp4"))
    assert patch(signed_in, path, 0, b"a" * 30, checksum=hashlib.sha256(b"a" * 30).digest()).status_code == 204
    refused = patch(signed_in, path, 30, b"b" * 30, checksum=hashlib.sha256(b"c" * 30).digest())
    assert refused.status_code == 460, refused.content
    assert refused.json()["error"]["code"] == "checksum_mismatch"
    assert signed_in.head(path, **TUS)["Upload-Offset"] == "30"
    unknown = patch(signed_in, path, 30, b"b", HTTP_UPLOAD_CHECKSUM="md5 AAAA")
    assert unknown.status_code == 400 and "sha256" in unknown.json()["error"]["message"]


def test_a_second_writer_on_one_upload_is_refused_with_409(signed_in, media, staging):
    path = path_of(create(signed_in, 100, filename="a.mp4"))
    upload_id = path.rstrip("/").rsplit("/", 1)[1]
    # Another request appending holds the upload's lock: a second PATCH must not interleave its bytes.
    descriptor = os.open(staging / upload_id / "lock", os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        busy = patch(signed_in, path, 0, b"x" * 10)
        assert busy.status_code == 409 and busy.json()["error"]["code"] == "upload_busy"
    finally:
        os.close(descriptor)
    assert patch(signed_in, path, 0, b"x" * 10).status_code == 204


def test_termination_removes_the_upload(signed_in, media, staging):
    path = path_of(create(signed_in, 100, filename="a.mp4"))
    assert patch(signed_in, path, 0, b"x" * 10).status_code == 204
    assert signed_in.delete(path, **TUS).status_code == 204
    assert signed_in.head(path, **TUS).status_code == 404
    assert patch(signed_in, path, 10, b"x").status_code == 404
    assert not list(staging.iterdir())


def test_termination_waits_for_the_patch_it_cancels_to_let_go(signed_in, media, monkeypatch, staging):
    path = path_of(create(signed_in, 100, filename="a.mp4"))
    upload_id = path.rstrip("/").rsplit("/", 1)[1]
    lock_file = staging / upload_id / "lock"
    # The PATCH a client aborted to cancel still holds the upload: DELETE waits for it instead of 409.
    descriptor = os.open(lock_file, os.O_RDWR)
    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    release = threading.Timer(0.3, os.close, args=[descriptor])
    release.start()
    try:
        assert signed_in.delete(path, **TUS).status_code == 204
    finally:
        release.join()
    assert signed_in.head(path, **TUS).status_code == 404

    # A writer that never lets go: after the wait, 409 like any request that finds the upload busy.
    monkeypatch.setattr(tus_upload, "TERMINATION_WAIT_SECONDS", 0.2)
    path = path_of(create(signed_in, 100, filename="b.mp4"))
    upload_id = path.rstrip("/").rsplit("/", 1)[1]
    descriptor = os.open(staging / upload_id / "lock", os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        busy = signed_in.delete(path, **TUS)
        assert busy.status_code == 409 and busy.json()["error"]["code"] == "upload_busy"
    finally:
        os.close(descriptor)


def test_an_expired_upload_is_gone_and_the_daily_cleanup_removes_it(signed_in, media, staging):
    path = path_of(create(signed_in, 100, filename="a.mp4"))
    upload_id = path.rstrip("/").rsplit("/", 1)[1]
    long_ago = time.time() - 2 * 24 * 3600
    for name in ("session.json", "data"):
        os.utime(staging / upload_id / name, (long_ago, long_ago))
    assert signed_in.head(path, **TUS).status_code == 410
    assert patch(signed_in, path, 0, b"x").status_code == 410
    retention_cleanup_task()
    assert not (staging / upload_id).exists()
    assert signed_in.head(path, **TUS).status_code == 404


def test_options_tells_what_the_server_supports(signed_in, settings):
    settings.VIDEO_MAX_UPLOAD_BYTES = 12345
    response = signed_in.options("/api/v1/tus/")
    assert response.status_code == 204
    assert response["Tus-Version"] == "1.0.0" and response["Tus-Resumable"] == "1.0.0"
    assert set(response["Tus-Extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "termination",
        "expiration",
        "checksum",
    }
    assert response["Tus-Max-Size"] == "12345" and response["Tus-Checksum-Algorithm"] == "sha256"


def test_a_request_without_a_supported_version_is_412(signed_in):
    missing = post(signed_in, HTTP_UPLOAD_LENGTH="10")
    assert missing.status_code == 412 and missing["Tus-Version"] == "1.0.0"
    old = post(signed_in, HTTP_UPLOAD_LENGTH="10", HTTP_TUS_RESUMABLE="0.2.2")
    assert old.status_code == 412 and old.json()["error"]["code"] == "unsupported_version"


def test_credentials_are_the_apis_and_uploads_are_their_owners(client, media):
    assert create(client, 10, filename="a.mp4").status_code == 401
    owner = UserFactory()
    token = TokenFactory(user=owner)
    created = post(
        client,
        HTTP_UPLOAD_LENGTH="10",
        HTTP_UPLOAD_METADATA=metadata(filename="a.mp4"),
        HTTP_AUTHORIZATION=f"Token {token.key}",
        **TUS,
    )
    assert created.status_code == 201, created.content
    path = path_of(created)
    client.force_login(UserFactory())
    assert client.head(path, **TUS).status_code == 404
    assert patch(client, path, 0, b"x").status_code == 404
    assert client.delete(path, **TUS).status_code == 404
    client.force_login(owner)
    assert client.head(path, **TUS).status_code == 200


def test_bad_requests_get_clear_answers(signed_in, settings):
    settings.VIDEO_MAX_UPLOAD_BYTES = 1000
    too_large = create(signed_in, 1001, filename="a.mp4")
    assert too_large.status_code == 413 and too_large.json()["error"]["code"] == "file_too_large"
    assert create(signed_in, 0, filename="a.mp4").status_code == 400
    assert post(signed_in, **TUS).status_code == 400  # no Upload-Length
    bad_metadata = post(signed_in, HTTP_UPLOAD_LENGTH="10", HTTP_UPLOAD_METADATA="filename !!", **TUS)
    assert bad_metadata.status_code == 400 and "Upload-Metadata" in bad_metadata.json()["error"]["message"]
    bad_option = create(signed_in, 10, filename="a.mp4", frame_step="0")
    assert bad_option.status_code == 400 and "frame_step" in bad_option.content.decode()
    path = path_of(create(signed_in, 10, filename="a.mp4"))
    assert patch(signed_in, path, 0, b"x" * 11).status_code == 400  # past Upload-Length
    wrong_type = signed_in.patch(
        path, data=b"x", content_type="application/octet-stream", HTTP_UPLOAD_OFFSET="0", **TUS
    )
    assert wrong_type.status_code == 415
    assert signed_in.patch(path, data=b"x", content_type="application/offset+octet-stream", **TUS).status_code == 400
    # Ten bytes that are not a video: refused at the end like any upload, and the upload is gone.
    not_video = patch(signed_in, path, 0, b"not video!")
    assert not_video.status_code == 415
    assert signed_in.head(path, **TUS).status_code == 404


def test_a_large_body_streams_to_disk_and_is_never_held_in_memory(signed_in, video_path, tmp_path):
    """48 MiB in one PATCH: what the server allocates while taking it stays a small fraction of the file."""
    clip = video_path.read_bytes()
    size = 48 * 1024 * 1024
    body = tmp_path / "body.bin"
    with open(body, "wb") as handle:  # a real video's bytes first, so the content sniffing takes it
        handle.write(clip)
        handle.truncate(size)
    path = path_of(create(signed_in, size, filename="large.mp4"))
    with open(body, "rb") as stream:
        # The request body is read from the file as the server asks for it, as from a socket.
        tracemalloc.start()
        try:
            response = signed_in.generic(
                "PATCH",
                path,
                HTTP_UPLOAD_OFFSET="0",
                **TUS,
                **{
                    "wsgi.input": stream,
                    "CONTENT_LENGTH": str(size),
                    "CONTENT_TYPE": "application/offset+octet-stream",
                },
            )
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert response.status_code == 204, response.content
    video = Video.objects.get(pk=response["Video-Id"])
    assert video.size_bytes == size
    print(f"peak traced allocation while taking {size} bytes: {peak} bytes")
    assert peak < 8 * 1024 * 1024, peak
