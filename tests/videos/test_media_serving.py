"""Serving originals, renditions, posters and thumbnails: Django checks who may read them; behind nginx, nginx sends
them (X-Accel-Redirect), with ranges and validators; without nginx, Django streams them itself."""

import grp
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client

from audit.models import StorageOperation
from processing.services.playback import playback_files_make, playback_record
from tests import live
from tests.factories import UserFactory
from tests.videofiles import write_test_video
from videos.media_signing import signed_media_url
from videos.models import Video
from videos.services.creation import video_create
from videos.services.deletion import video_soft_delete
from videos.services.transitions import video_lock

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def avi_video(tmp_path) -> Video:
    """An uploaded MPEG-4 Part 2 AVI with its rendition, poster and thumbnails made (as the worker makes them)."""
    source = write_test_video(tmp_path / "clip.avi", seconds=2, fps=10, codec="mpeg4")
    video = video_create(
        owner=UserFactory(), uploaded_file=SimpleUploadedFile("clip.avi", source.read_bytes()), enqueue=False
    )
    prepared = playback_files_make(video=video)
    with transaction.atomic():
        playback_record(video=video_lock(video_id=video.pk), prepared=prepared)
    return Video.objects.get(pk=video.pk)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def stored_bytes(name: str) -> bytes:
    return (Path(settings.MEDIA_ROOT) / name).read_bytes()


def derived_url(video: Video, name: str) -> str:
    return f"/videos/{video.pk}/playback/{Path(name).name}"


def test_the_detail_and_the_list_say_what_to_play(avi_video):
    client = signed_in(avi_video.owner)

    detail = client.get(f"/api/v1/videos/{avi_video.pk}/").json()
    listed = client.get("/api/v1/videos/").json()["results"][0]

    assert detail["playback"] == {
        "kind": "rendition",
        "url": signed_media_url(avi_video.rendition.name),
        "reason": "browsers do not play the video/x-msvideo container",
        "time_offset": 0.0,
        "rotation_applied": 0,
        "checked": True,
        "download_url": f"/videos/{avi_video.pk}/file",
    }
    assert detail["poster_url"] == listed["poster_url"] == signed_media_url(avi_video.poster.name)
    thumbnails = detail["thumbnails"]
    assert thumbnails["sprite_url"] == signed_media_url(avi_video.thumbnails_sprite.name)
    assert (thumbnails["tile_width"], thumbnails["columns"], thumbnails["times"]) == (160, 1, [0.0])


def test_without_nginx_django_streams_ranges_with_validators(avi_video):
    client = signed_in(avi_video.owner)
    url = derived_url(avi_video, avi_video.rendition.name)
    content = stored_bytes(avi_video.rendition.name)

    whole = client.get(url)
    part = client.get(url, HTTP_RANGE="bytes=100-199")
    again = client.get(url, HTTP_IF_NONE_MATCH=whole["ETag"])

    assert whole.status_code == 200 and b"".join(whole.streaming_content) == content
    assert whole["Content-Type"] == "video/mp4"
    assert whole["Cache-Control"] == "private, max-age=31536000, immutable"
    assert whole["ETag"] and whole["Last-Modified"]
    assert part.status_code == 206 and b"".join(part.streaming_content) == content[100:200]
    assert part["Content-Range"] == f"bytes 100-199/{len(content)}"
    assert again.status_code == 304
    poster = client.get(derived_url(avi_video, avi_video.poster.name))
    assert poster["Content-Type"] == "image/jpeg"


def test_behind_nginx_django_only_checks_and_redirects(avi_video):
    client = signed_in(avi_video.owner)

    response = client.get(
        derived_url(avi_video, avi_video.rendition.name), HTTP_X_MEDIA_ACCEL="/_protected_media/", HTTP_RANGE="bytes=0-"
    )

    assert response.status_code == 200 and response.content == b""
    assert response["X-Accel-Redirect"] == f"/_protected_media/{avi_video.rendition.name}"
    assert response["Content-Type"] == "video/mp4"
    access = StorageOperation.objects.get(video_id=avi_video.pk, operation="access")
    assert access.path == avi_video.rendition.name


def test_another_user_and_unknown_names_get_404(avi_video):
    stranger = signed_in(UserFactory())
    owner = signed_in(avi_video.owner)

    assert stranger.get(derived_url(avi_video, avi_video.rendition.name)).status_code == 404
    assert stranger.get(f"/videos/{avi_video.pk}/file").status_code == 404
    assert owner.get(f"/videos/{avi_video.pk}/playback/..%2F..%2Fsettings.py").status_code == 404
    assert owner.get(f"/videos/{avi_video.pk}/playback/other.mp4").status_code == 404


def test_deleting_the_video_removes_its_derived_files_and_logs_it(avi_video):
    names = avi_video.derived_file_names()

    video_soft_delete(video_id=avi_video.pk, actor=avi_video.owner)

    assert not any((Path(settings.MEDIA_ROOT) / name).exists() for name in names)
    assert (Path(settings.MEDIA_ROOT) / avi_video.file.name).exists()  # the original waits for the purge
    removed = StorageOperation.objects.filter(video_id=avi_video.pk, operation="delete", success=True)
    assert sorted(removed.values_list("path", flat=True)) == sorted(names)


# -- through the real front ----------------------------------------------------------------------------------


def session_cookie(user) -> dict:
    return {settings.SESSION_COOKIE_NAME: signed_in(user).cookies[settings.SESSION_COOKIE_NAME].value}


def check_served_by_nginx(base: str, video: Video, *, accelerated: bool = True) -> None:
    cookies = session_cookie(video.owner)
    url = base + derived_url(video, video.rendition.name)
    content = stored_bytes(video.rendition.name)

    part = requests.get(url, cookies=cookies, headers={"Range": "bytes=1000-1999"}, timeout=30)
    tail = requests.get(url, cookies=cookies, headers={"Range": "bytes=-500"}, timeout=30)
    whole = requests.get(url, cookies=cookies, timeout=30)
    stranger = requests.get(url, cookies=session_cookie(UserFactory()), timeout=30)
    direct = requests.get(f"{base}/_protected_media/{video.rendition.name}", timeout=30)

    assert part.status_code == 206, part.text[:300]
    assert part.content == content[1000:2000]
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(content)}"
    assert tail.status_code == 206 and tail.content == content[-500:]
    assert whole.status_code == 200 and whole.content == content
    assert whole.headers["Accept-Ranges"] == "bytes"
    for response in (part, whole):
        assert response.headers["Content-Type"] == "video/mp4"
        assert response.headers["Cache-Control"] == "private, max-age=31536000, immutable"
        assert response.headers["ETag"] and response.headers["Last-Modified"]
    if accelerated:  # nginx's own validators (mtime-size), not Django's content key
        assert whole.headers["ETag"] != f'"{Path(video.rendition.name).stem}"'
        revalidated = requests.get(url, cookies=cookies, headers={"If-None-Match": whole.headers["ETag"]}, timeout=30)
        assert revalidated.status_code == 304
    assert stranger.status_code == 404
    assert direct.status_code == 404  # the internal location answers only Django's redirects


@pytest.mark.e2e
def test_nginx_sends_the_rendition_after_djangos_check(live_server_process, avi_video):
    check_served_by_nginx(f"http://{live_server_process}", avi_video)


PLATFORM_GROUP = "mp-media-test"


@pytest.fixture
def group_only_media(avi_video):
    """A copy of the media folder as the platform writes it with umask 027: group-readable only, in the platform's
    group (not root's), under a path every user may traverse."""
    if os.geteuid() != 0:
        pytest.skip("needs root to give files a group and to start nginx's workers as another user")
    if subprocess.run(["getent", "group", PLATFORM_GROUP], capture_output=True).returncode != 0:
        subprocess.run(["groupadd", "--system", PLATFORM_GROUP], check=True)
    gid = grp.getgrnam(PLATFORM_GROUP).gr_gid
    root = live.ROOT / "var" / f"media-umask-027-{os.getpid()}"
    shutil.copytree(settings.MEDIA_ROOT, root)
    for path in [root, *root.rglob("*")]:
        os.chown(path, 0, gid)
        path.chmod(0o750 if path.is_dir() else 0o640)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.e2e
def test_a_root_started_front_reads_media_the_platform_wrote_with_umask_027(group_only_media, avi_video):
    web, port = live.start_web("web-umask-027", extra_env={"MEDIA_ROOT": str(group_only_media)})
    try:
        check_served_by_nginx(f"http://127.0.0.1:{port}", avi_video)
    finally:
        web.stop()
    assert "cannot read" not in web.log_tail(200)


# -- the player's signed URLs ------------------------------------------------------------------------------------


def test_a_signed_url_serves_its_file_with_ranges_and_nothing_else(avi_video, client):
    url = signed_media_url(avi_video.rendition.name)
    content = stored_bytes(avi_video.rendition.name)

    part = client.get(url, HTTP_RANGE="bytes=100-199")  # no session: the signature stands for the check

    assert part.status_code == 206 and b"".join(part.streaming_content) == content[100:200]
    assert part["Content-Type"] == "video/mp4"
    path, _, query = url.partition("?")
    other = signed_media_url(avi_video.poster.name).partition("?")[2]
    assert client.get(f"{path}?{other}").status_code == 403  # another file's signature
    assert client.get(f"{path}?{query.replace('md5=', 'md5=x')}").status_code == 403
    assert client.get(path).status_code == 403


def test_a_signed_url_expires(avi_video, client, settings):
    settings.MEDIA_SIGNED_URL_SECONDS, settings.MEDIA_SIGNED_URL_WINDOW_SECONDS = 60, 60
    stale = signed_media_url(avi_video.rendition.name, now=0)  # expired in 1970

    assert client.get(stale).status_code == 403


def test_signed_urls_stay_the_same_within_a_window_so_browsers_cache_them(avi_video, settings):
    settings.MEDIA_SIGNED_URL_SECONDS, settings.MEDIA_SIGNED_URL_WINDOW_SECONDS = 7200, 1800
    name = avi_video.rendition.name

    assert signed_media_url(name, now=1_800_000_010) == signed_media_url(name, now=1_800_001_000)
    assert signed_media_url(name, now=1_800_000_010) != signed_media_url(name, now=1_800_003_600)


@pytest.mark.e2e
def test_nginx_serves_signed_urls_by_itself(live_server_process, avi_video):
    base = f"http://{live_server_process}"
    url = base + signed_media_url(avi_video.rendition.name)
    content = stored_bytes(avi_video.rendition.name)

    part = requests.get(url, headers={"Range": "bytes=1000-1999"}, timeout=30)
    tampered = requests.get(url.replace("md5=", "md5=A"), timeout=30)
    expired = requests.get(base + signed_media_url(avi_video.rendition.name, now=0), timeout=30)

    assert part.status_code == 206 and part.content == content[1000:2000]
    assert part.headers["Content-Type"] == "video/mp4"
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(content)}"
    # nginx's own validator (mtime-size): the bytes came from nginx, not through Django's fallback.
    assert part.headers["ETag"] != f'"{Path(avi_video.rendition.name).stem}"'
    assert tampered.status_code == 403
    assert expired.status_code in (403, 410)  # nginx: 410 for an expired link, Django's fallback: 403
