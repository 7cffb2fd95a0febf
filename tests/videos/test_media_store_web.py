"""The web side on both media backends: the local filesystem and a real S3-compatible server (moto).

Uploads (multipart, tus, URL import) land in the media store once, with their SHA-256 taken on the way in and
nothing left in staging; from the object store, the permission-checked routes answer a 302 to a short-lived
presigned URL (404 for anyone else), players are handed presigned URLs the store serves with ranges, and the
readiness check asks the store itself.
"""

import base64
import functools
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from django.test import Client

from audit.models import StorageOperation
from processing.models import AnnotatedVideo, RenderStatus
from tests.factories import UserFactory
from tests.videofiles import write_test_video
from videos import media_store
from videos.media_signing import signed_media_url
from videos.models import PlaybackKind, Video
from videos.services.creation import video_create

pytestmark = pytest.mark.django_db

TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}


@pytest.fixture(params=["local", "s3"])
def backend(request, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.UPLOAD_STAGING_DIR = tmp_path / "upload-staging"
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "upload-temp")
    Path(settings.FILE_UPLOAD_TEMP_DIR).mkdir()
    settings.MEDIA_SCRATCH_DIR = tmp_path / "scratch"
    settings.MEDIA_SCRATCH_MIN_FREE_BYTES = 0
    if request.param == "s3":
        request.getfixturevalue("s3_media")
    return request.param


@pytest.fixture
def store(s3_media, settings, tmp_path):
    """The object store alone (the tests below that only make sense there)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.UPLOAD_STAGING_DIR = tmp_path / "upload-staging"
    return s3_media


def files_under(folder) -> list[Path]:
    folder = Path(folder)
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def stored_bytes(name: str) -> bytes:
    with media_store.open_for_reading(name) as handle:
        return handle.read()


def assert_stored_once(backend: str, name: str, content: bytes, settings) -> None:
    """The bytes are in the store under `name` and nowhere else on this host."""
    assert stored_bytes(name) == content
    assert media_store.sha256_of(name) == hashlib.sha256(content).hexdigest()
    if backend == "s3":
        assert files_under(settings.MEDIA_ROOT) == [], "nothing of the upload under MEDIA_ROOT"
        assert media_store.filesystem_path(name) is None
    else:
        assert files_under(settings.MEDIA_ROOT) == [media_store.filesystem_path(name)]
    assert files_under(settings.FILE_UPLOAD_TEMP_DIR) == [], "the temporary file was moved, not copied"
    assert files_under(settings.UPLOAD_STAGING_DIR) == []


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# ----------------------------------------------------------------------------------------------- uploads


def test_a_multipart_upload_lands_in_the_store_once_with_its_hash(backend, api_client, video_path, settings):
    content = video_path.read_bytes()
    response = api_client.post("/api/v1/videos/", {"file": SimpleUploadedFile("a.mp4", content)}, format="multipart")
    assert response.status_code == 201, response.content
    video = Video.objects.get(pk=response.json()["id"])
    assert video.file_hash == hashlib.sha256(content).hexdigest()
    assert_stored_once(backend, video.file.name, content, settings)
    upload = StorageOperation.objects.get(operation="upload", video_id=video.pk)
    assert upload.success and upload.path == video.file.name and upload.size_bytes == len(content)


def test_storing_a_large_upload_never_holds_it_in_memory(backend, settings, video_path):
    """48 MiB through video_create (the request's temporary file to the store) with a Python heap peak far
    below the file's size: the upload is moved or streamed in parts, never read whole."""
    size = 48 * 1024**2
    upload = TemporaryUploadedFile("big.mp4", "video/mp4", size, None)
    head = video_path.read_bytes()
    upload.write(head)
    block = bytes(range(256)) * 4096
    digest = hashlib.sha256(head)
    written = len(head)
    while written < size:
        piece = block[: size - written]
        upload.write(piece)
        digest.update(piece)
        written += len(piece)
    upload.flush()
    upload.sha256 = digest.hexdigest()
    upload.seek(0)
    media_store.exists("videos/warm-up")  # the store's client loads its API models once per process: not counted

    tracemalloc.start()
    try:
        video = video_create(owner=UserFactory(), uploaded_file=upload, enqueue=False)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        upload.close()
    assert media_store.size(video.file.name) == size
    assert media_store.sha256_of(video.file.name) == video.file_hash
    assert peak < size / 3, f"peak Python heap {peak:,} bytes while storing {size:,}"


def _tus_create(client, length: int, **meta):
    encoded = ",".join(f"{key} {base64.b64encode(str(value).encode()).decode()}" for key, value in meta.items())
    extra = {"HTTP_UPLOAD_LENGTH": str(length), "HTTP_UPLOAD_METADATA": encoded, **TUS}
    return client.generic("POST", "/api/v1/tus/", b"", content_type="application/offset+octet-stream", **extra)


def _tus_patch(client, path: str, offset: int, chunk: bytes):
    # CONTENT_TYPE given outright: the test client leaves it off a request without a body.
    content_type = "application/offset+octet-stream"
    return client.patch(
        path, data=chunk, content_type=content_type, CONTENT_TYPE=content_type, HTTP_UPLOAD_OFFSET=str(offset), **TUS
    )


def test_a_tus_upload_is_staged_outside_media_then_stored_once(backend, video_path, settings):
    client = signed_in(UserFactory())
    content = video_path.read_bytes()
    created = _tus_create(client, len(content), filename="holiday.mp4")
    assert created.status_code == 201, created.content
    path = "/" + created["Location"].split("/", 3)[3]
    half = len(content) // 2
    assert _tus_patch(client, path, 0, content[:half]).status_code == 204
    staged = files_under(settings.UPLOAD_STAGING_DIR)
    assert staged and all(not str(path).startswith(str(settings.MEDIA_ROOT)) for path in staged)
    assert files_under(settings.MEDIA_ROOT) == [] if backend == "s3" else True

    done = _tus_patch(client, path, half, content[half:])
    assert done.status_code == 204, done.content
    video = Video.objects.get(pk=done["Video-Id"])
    assert video.file_hash == hashlib.sha256(content).hexdigest()
    assert_stored_once(backend, video.file.name, content, settings)
    assert list(Path(settings.UPLOAD_STAGING_DIR).iterdir()) == [], "the session folder is removed"


def test_a_finished_tus_upload_keeps_its_bytes_while_the_store_is_out_of_reach(store, video_path, settings):
    """The store does not answer when the last byte is in: 503 with Retry-After, the staged bytes kept, and
    the empty PATCH at the final offset finishes it once the store is back."""
    client = signed_in(UserFactory())
    content = video_path.read_bytes()
    path = "/" + _tus_create(client, len(content), filename="later.mp4")["Location"].split("/", 3)[3]
    options = dict(settings.STORAGES["default"]["OPTIONS"])
    reachable = settings.STORAGES
    settings.STORAGES = {
        **reachable,
        "default": {**reachable["default"], "OPTIONS": {**options, "endpoint_url": "http://127.0.0.1:9"}},
    }

    refused = _tus_patch(client, path, 0, content)
    assert refused.status_code == 503, refused.content
    assert refused.json()["error"]["code"] == "storage_unavailable" and refused["Retry-After"]
    assert [p.name for p in files_under(settings.UPLOAD_STAGING_DIR) if p.name == "data"] == ["data"]

    settings.STORAGES = reachable
    finished = _tus_patch(client, path, len(content), b"")
    assert finished.status_code == 204, finished.content
    video = Video.objects.get(pk=finished["Video-Id"])
    assert stored_bytes(video.file.name) == content
    assert list(Path(settings.UPLOAD_STAGING_DIR).iterdir()) == []


@pytest.fixture
def served_folder(tmp_path, settings):
    """A plain HTTP server on loopback serving a folder (the URL import's source)."""
    folder = tmp_path / "served"
    folder.mkdir()
    settings.URL_IMPORT_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_url_import_lands_in_the_store_once(backend, api_client, served_folder, settings):
    folder, base_url = served_folder
    clip = write_test_video(folder / "street.mp4", seconds=1, fps=10)
    content = clip.read_bytes()
    response = api_client.post("/api/v1/videos/", {"source_url": f"{base_url}/street.mp4"}, format="json")
    assert response.status_code == 201, response.content
    video = Video.objects.get(pk=response.json()["id"])
    assert video.file_hash == hashlib.sha256(content).hexdigest()
    assert_stored_once(backend, video.file.name, content, settings)


# ----------------------------------------------------------------------------------------------- serving


@pytest.fixture
def played_video(store, video_path, tmp_path) -> Video:
    """An uploaded video with a rendition, a poster and thumbnails in the object store (as the worker makes them)."""
    video = video_create(
        owner=UserFactory(), uploaded_file=SimpleUploadedFile("holiday.mp4", video_path.read_bytes()), enqueue=False
    )
    names = {}
    for field, suffix, data in (
        ("rendition", "mp4", video_path.read_bytes()),
        ("poster", "jpg", b"\xff\xd8\xff poster"),
        ("thumbnails_sprite", "jpg", b"\xff\xd8\xff sprite"),
    ):
        source = tmp_path / f"{field}.{suffix}"
        source.write_bytes(data)
        names[field] = media_store.store_file(source=source, name=f"renditions/ab/{video.file_hash}-{field}.{suffix}")
    Video.objects.filter(pk=video.pk).update(
        playback_kind=PlaybackKind.RENDITION,
        thumbnails_index={"times": [0.0], "columns": 1, "tile_width": 160, "tile_height": 90},
        **names,
    )
    return Video.objects.get(pk=video.pk)


def _store_key(store, name: str) -> str:
    return f"{store.prefix}/{name}"


def test_players_are_handed_presigned_urls_that_serve_ranges(played_video, store, video_path):
    client = signed_in(played_video.owner)
    body = client.get(f"/api/v1/videos/{played_video.pk}/").json()
    url = body["playback"]["url"]
    assert url.startswith(store.endpoint_url + "/") and "X-Amz-Signature=" in url
    assert urlsplit(url).path == f"/{store.bucket}/{_store_key(store, played_video.rendition.name)}"
    content = video_path.read_bytes()
    ranged = requests.get(url, headers={"Range": "bytes=100-299"}, timeout=10)
    assert ranged.status_code == 206 and ranged.content == content[100:300]
    assert ranged.headers["Content-Type"] == "video/mp4"
    assert body["poster_url"].startswith(store.endpoint_url + "/")
    assert requests.get(body["poster_url"], timeout=10).content == b"\xff\xd8\xff poster"
    assert body["thumbnails"]["sprite_url"].startswith(store.endpoint_url + "/")

    page = client.get(f"/videos/{played_video.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'src="{url.replace("&", "&amp;")}"' in html, "the video page plays the presigned URL"
    assert "/media/signed/" not in html


def test_checked_routes_redirect_the_owner_and_hide_the_file_from_others(played_video, store, video_path):
    owner = signed_in(played_video.owner)
    stranger = signed_in(UserFactory())
    routes = [
        f"/videos/{played_video.pk}/file",
        f"/videos/{played_video.pk}/playback/{Path(played_video.rendition.name).name}",
        f"/videos/{played_video.pk}/playback/{Path(played_video.poster.name).name}",
    ]
    for route in routes:
        answered = owner.get(route)
        assert answered.status_code == 302, (route, answered.status_code)
        location = answered["Location"]
        assert location.startswith(store.endpoint_url + "/") and "X-Amz-Signature=" in location
        expires = int(parse_qs(urlsplit(location).query)["X-Amz-Expires"][0])
        assert expires <= 15 * 60
        assert "no-store" in answered["Cache-Control"]
        assert stranger.get(route).status_code == 404
        assert Client().get(route).status_code == 302 and "login" in Client().get(route)["Location"]

    original = requests.get(owner.get(routes[0])["Location"], headers={"Range": "bytes=0-99"}, timeout=10)
    assert original.status_code == 206 and original.content == video_path.read_bytes()[:100]
    assert original.headers["Content-Disposition"] == 'attachment; filename="holiday.mp4"'
    assert StorageOperation.objects.filter(operation="access", path=played_video.file.name).exists()


def test_an_old_nginx_signed_link_is_sent_to_the_store(played_video, store):
    url = signed_media_url(played_video.poster.name)
    answered = Client().get(url)
    assert answered.status_code == 302 and answered["Location"].startswith(store.endpoint_url + "/")
    tampered = url.replace("md5=", "md5=x")
    assert Client().get(tampered).status_code == 403


def test_the_signed_link_fallback_on_the_filesystem_stays_inside_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    (tmp_path / "media" / "renditions").mkdir(parents=True)
    (tmp_path / "media" / "renditions" / "a.jpg").write_bytes(b"inside")
    (tmp_path / "outside.jpg").write_bytes(b"outside")
    assert b"".join(Client().get(signed_media_url("renditions/a.jpg")).streaming_content) == b"inside"
    for escaping in ("../outside.jpg", "renditions/../../outside.jpg"):
        assert Client().get(signed_media_url(escaping)).status_code in (403, 404)


def test_the_annotated_video_download_redirects_with_its_download_name(store, api_client, video_path, tmp_path):
    from tests.processing.test_annotated_video import completed_run, stored_clip_video

    job = completed_run(stored_clip_video(api_client.user, tmp_path), track=True)
    queued = api_client.post(f"/api/v1/jobs/{job.pk}/annotated-video/", {}, format="json")
    assert queued.status_code == 202, queued.content
    render = AnnotatedVideo.objects.get(pk=queued.json()["id"])
    source = tmp_path / "annotated.mp4"
    source.write_bytes(video_path.read_bytes())
    name = media_store.store_file(source=source, name=f"annotated/{render.pk}.mp4")
    AnnotatedVideo.objects.filter(pk=render.pk).update(
        status=RenderStatus.READY, file=name, size_bytes=len(video_path.read_bytes())
    )

    answered = api_client.get(queued.json()["download_url"])
    assert answered.status_code == 302, answered.content
    fetched = requests.get(answered["Location"], timeout=10)
    assert fetched.status_code == 200 and fetched.content == video_path.read_bytes()
    assert fetched.headers["Content-Disposition"] == f'attachment; filename="run-{job.pk}-annotated.mp4"'
    assert StorageOperation.objects.filter(operation="access", path=name, success=True).exists()

    other = Client()
    other.force_login(UserFactory())
    assert other.get(queued.json()["download_url"]).status_code == 404

    media_store.delete(name)
    missing = api_client.get(queued.json()["download_url"])
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


# ----------------------------------------------------------------------------------------------- health


def _readiness_media_store(client) -> dict:
    return client.get("/health/ready").json()["components"]["media_store"]


def test_readiness_reports_the_object_store_up_then_down(store, settings):
    client = Client()
    up = _readiness_media_store(client)
    assert up["status"] in ("healthy", "degraded"), up
    assert store.bucket in up["detail"]
    store.pause()
    try:
        down = _readiness_media_store(client)
    finally:
        store.resume()
    assert down["status"] == "unhealthy" and down["detail"]
    assert _readiness_media_store(client)["status"] in ("healthy", "degraded")


def test_readiness_on_the_filesystem_reports_the_media_folder(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    (tmp_path / "media").mkdir()
    component = _readiness_media_store(Client())
    assert component["status"] == "healthy" and str(tmp_path / "media") in component["detail"]


# ----------------------------------------------------------------------------------------------- CSP


def _policy_sources(**variables: str) -> dict:
    """The Content-Security-Policy's img-src and media-src as a fresh process reads the settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "MEDIA_S3_"))}
    env.update(DJANGO_SETTINGS_MODULE="mediaplatform.settings", **variables)
    script = (
        "import json; from django.conf import settings; d = settings.CONTENT_SECURITY_POLICY['DIRECTIVES'];"
        "print(json.dumps({'img': d['img-src'], 'media': d['media-src']}))"
    )
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_policy_lets_pages_load_media_from_the_store_origin(store):
    # The origin presigned URLs point at is exactly the one the policy allows.
    presigned = media_store.presigned_url("videos/ab/x.mp4")
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(presigned))
    on_s3 = _policy_sources(**store.environment())
    assert on_s3 == {"img": ["'self'", "data:", origin], "media": ["'self'", origin]}

    public = _policy_sources(**store.environment(), MEDIA_S3_PUBLIC_ENDPOINT_URL="https://media.example.org/s3")
    assert public["media"] == ["'self'", "https://media.example.org"]
    virtual = _policy_sources(
        **{**store.environment(), "MEDIA_S3_ENDPOINT_URL": "https://store.example.org"},
        MEDIA_S3_ADDRESSING_STYLE="virtual",
    )
    assert virtual["media"] == ["'self'", f"https://{store.bucket}.store.example.org"]
    named = _policy_sources(**store.environment(), MEDIA_S3_BROWSER_ORIGINS="https://cdn.example.org")
    assert named["img"] == ["'self'", "data:", "https://cdn.example.org"]


def test_the_policy_on_the_filesystem_names_no_other_origin():
    assert _policy_sources(MEDIA_STORAGE="local") == {"img": ["'self'", "data:"], "media": ["'self'"]}
