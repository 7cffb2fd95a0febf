"""With media in an object store, the video page plays the video straight from the store's presigned URL: the
web front (nginx, gunicorn) runs against a real S3-compatible server, and the page's Content-Security-Policy lets
the player load from the store's origin."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests import live
from tests.browser.conftest import _open_page, screenshot, sign_in
from tests.factories import UserFactory
from tests.videofiles import write_test_video
from videos.models import PlaybackKind, Video
from videos.services.creation import video_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

MEDIA_STATE = """() => {
  const v = document.getElementById("video");
  return {ready: v.readyState, time: v.currentTime, error: v.error && v.error.message, src: v.currentSrc,
          width: v.videoWidth, poster: v.poster};
}"""


@pytest.fixture
def web_on_the_store(s3_media, tmp_path):
    """The web front with its media in the test's object store (the same bucket and prefix as this process)."""
    process, port = live.start_web("web-s3", extra_env={**s3_media.environment(), "MEDIA_ROOT": str(tmp_path / "m")})
    yield f"http://127.0.0.1:{port}"
    process.stop()


def test_the_video_page_plays_from_the_object_store(browser, web_on_the_store, s3_media, tmp_path):
    clip = write_test_video(tmp_path / "harbour.mp4", seconds=3, fps=10)
    owner = UserFactory()
    video = video_create(
        owner=owner, uploaded_file=SimpleUploadedFile("harbour.mp4", clip.read_bytes()), title="Harbour", enqueue=False
    )
    # What the worker's checks would record: a picture to show, playable as it is.
    Video.objects.filter(pk=video.pk).update(
        playback_kind=PlaybackKind.ORIGINAL, width=320, height=240, fps=10, frame_count=30, duration_seconds=3
    )

    page, problems = _open_page(browser, web_on_the_store)
    sign_in(page, owner)
    response = page.goto(f"/videos/{video.pk}/")
    policy = response.headers["content-security-policy"]
    assert f"media-src 'self' {s3_media.endpoint_url}" in policy
    assert page.locator("#player-card").is_visible()
    page.wait_for_function("() => document.getElementById('video').readyState >= 2")
    page.evaluate("document.getElementById('video').play()")
    page.wait_for_function("() => document.getElementById('video').currentTime > 0.5")
    state = page.evaluate(MEDIA_STATE)
    assert state["error"] is None and state["width"] == 320
    assert state["src"].startswith(f"{s3_media.endpoint_url}/{s3_media.bucket}/"), state["src"]
    assert "X-Amz-Signature=" in state["src"]
    page.evaluate("document.getElementById('video').pause()")
    screenshot(page, "playback_object_store")
    problems.assert_none()
    page.context.close()
