"""The storage layer on both backends: the local filesystem and a real S3-compatible server."""

import hashlib
import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from videos import media_store


@pytest.fixture(params=["local", "s3"])
def backend(request, settings, tmp_path):
    settings.MEDIA_SCRATCH_DIR = tmp_path / "scratch"
    settings.MEDIA_SCRATCH_MIN_FREE_BYTES = 0
    if request.param == "s3":
        return request.getfixturevalue("s3_media")
    settings.MEDIA_ROOT = tmp_path / "media"
    return None


def _write(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def test_store_then_copy_back_keeps_every_byte(backend, tmp_path):
    source = tmp_path / "source.bin"
    data = _write(source, 3 * 1024 * 1024 + 17)
    name = "videos/ab/store-test.bin"

    assert media_store.store_file(source=source, name=name, content_type="video/mp4") == name
    assert not source.exists()  # moved
    assert media_store.exists(name)
    assert media_store.size(name) == len(data)
    assert media_store.sha256_of(name) == hashlib.sha256(data).hexdigest()
    with media_store.local_copy(name) as path:
        assert path.read_bytes() == data
        copied = path
    if backend is not None:
        assert not copied.exists(), "the scratch copy goes when the block ends"
        assert media_store.filesystem_path(name) is None
    else:
        assert copied.exists(), "on the filesystem the stored file itself is handed out"


def test_scratch_copy_is_removed_when_the_block_fails(backend, tmp_path, settings):
    source = tmp_path / "source.bin"
    _write(source, 1024)
    media_store.store_file(source=source, name="videos/ab/fails.bin")
    with pytest.raises(RuntimeError), media_store.local_copy("videos/ab/fails.bin"):
        raise RuntimeError("the decoder gave up")
    assert not any(Path(settings.MEDIA_SCRATCH_DIR).glob("*/*")) if Path(settings.MEDIA_SCRATCH_DIR).exists() else True


def test_missing_object_is_a_clear_error(backend):
    with pytest.raises(media_store.MediaObjectMissing), media_store.local_copy("videos/zz/not-there.mp4"):
        pass


def test_listing_and_deleting(backend, tmp_path):
    for index in range(3):
        source = tmp_path / f"{index}.bin"
        _write(source, 100 + index)
        media_store.store_file(source=source, name=f"listing/{index}/file.bin")
    listed = {item.name: item.size for item in media_store.iter_stored("listing")}
    assert listed == {"listing/0/file.bin": 100, "listing/1/file.bin": 101, "listing/2/file.bin": 102}
    media_store.delete("listing/1/file.bin")
    media_store.delete("listing/1/file.bin")  # already gone: not an error
    assert {item.name for item in media_store.iter_stored("listing/")} == {"listing/0/file.bin", "listing/2/file.bin"}


def test_store_stream_does_not_need_a_local_file(backend):
    import io

    data = os.urandom(20 * 1024 * 1024 + 5)  # past the multipart threshold
    media_store.store_stream(stream=io.BytesIO(data), name="streams/big.bin")
    assert media_store.sha256_of("streams/big.bin") == hashlib.sha256(data).hexdigest()


def test_presigned_urls_serve_ranges_from_the_object_store(s3_media, tmp_path, settings):
    source = tmp_path / "clip.bin"
    data = _write(source, 4096)
    media_store.store_file(source=source, name="signed/clip.mp4")

    url = media_store.presigned_url("signed/clip.mp4", download_name='my "clip".mp4', expires_seconds=60)
    query = parse_qs(urlsplit(url).query)
    assert int(query["X-Amz-Expires"][0]) >= 60
    response = requests.get(url, headers={"Range": "bytes=100-199"}, timeout=10)
    assert response.status_code == 206
    assert response.content == data[100:200]
    assert 'filename="my clip.mp4"' in response.headers["Content-Disposition"]

    # (moto does not check signatures, so a tampered URL is not tried here: a real store answers 403.)
    settings.MEDIA_S3_PUBLIC_ENDPOINT_URL = "https://media.example.org"
    assert media_store.presigned_url("signed/clip.mp4").startswith("https://media.example.org/")


def test_presigned_url_is_none_on_the_filesystem(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    assert media_store.presigned_url("videos/ab/x.mp4") is None


def test_unreachable_store_is_a_resource_error(s3_media, settings):
    options = dict(settings.STORAGES["default"]["OPTIONS"])
    options["endpoint_url"] = "http://127.0.0.1:9"  # discard port: nothing listens
    settings.STORAGES = {**settings.STORAGES, "default": {**settings.STORAGES["default"], "OPTIONS": options}}
    with pytest.raises(media_store.MediaStoreUnavailable):
        media_store.exists("videos/ab/anything.mp4")
    assert media_store.check_reachable()[0] is False


def test_scratch_sweep_removes_folders_of_dead_processes(settings, tmp_path):
    import socket
    import subprocess

    settings.MEDIA_SCRATCH_DIR = tmp_path / "scratch"
    finished = subprocess.Popen(["true"])
    finished.wait()
    host = socket.gethostname()
    dead = tmp_path / "scratch" / f"job-{host}-{finished.pid}-abcdef123456"
    alive = tmp_path / "scratch" / f"job-{host}-{os.getpid()}-abcdef123456"
    other_host = tmp_path / "scratch" / f"job-elsewhere-{finished.pid}-abcdef123456"
    for folder in (dead, alive, other_host):
        folder.mkdir(parents=True)
        (folder / "source.mp4").write_bytes(b"x")
    assert media_store.scratch_sweep() == 1
    assert not dead.exists() and alive.exists() and other_host.exists()


def test_presigned_urls_stay_the_same_within_a_window(s3_media, settings, tmp_path):
    """Browsers cache what a URL names: a page loaded twice in one window gets the same, still valid, URL."""
    import calendar
    import time

    settings.MEDIA_SIGNED_URL_WINDOW_SECONDS = 3600
    source = tmp_path / "poster.jpg"
    data = _write(source, 2048)
    media_store.store_file(source=source, name="stable/poster.jpg")

    first = media_store.presigned_url("stable/poster.jpg", expires_seconds=600)
    second = media_store.presigned_url("stable/poster.jpg", expires_seconds=600)
    assert first == second
    query = parse_qs(urlsplit(first).query)
    signed_at = query["X-Amz-Date"][0]
    lifetime = int(query["X-Amz-Expires"][0])
    assert lifetime == 600 + 3600
    signed_epoch = calendar.timegm(time.strptime(signed_at, "%Y%m%dT%H%M%SZ"))
    assert signed_epoch % 3600 == 0
    assert signed_epoch + lifetime >= time.time() + 600, "valid for at least what was asked"
    assert requests.get(first, timeout=10).content == data

    settings.MEDIA_SIGNED_URL_WINDOW_SECONDS = 0
    assert (
        int(
            parse_qs(urlsplit(media_store.presigned_url("stable/poster.jpg", expires_seconds=600)).query)[
                "X-Amz-Expires"
            ][0]
        )
        == 600
    )
