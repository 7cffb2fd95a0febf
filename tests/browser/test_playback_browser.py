"""AVI uploads browsers cannot open play on the video page from their rendition; a video with nothing playable
says so in words and offers the original, with no player (and no boxes) shown."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in, wait_for_state
from tests.factories import UserFactory
from tests.videofiles import write_test_video
from videos.models import Video
from videos.services.creation import video_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

MEDIA_STATE = """() => {
  const v = document.getElementById("video");
  return {ready: v.readyState, time: v.currentTime, error: v.error && v.error.message, src: v.currentSrc,
          width: v.videoWidth};
}"""


@pytest.mark.parametrize("codec", ["msmpeg4", "mpeg4", "cinepak"])
def test_an_avi_plays_on_the_video_page(page, console_problems, live_worker_process, tmp_path, codec):
    clip = write_test_video(tmp_path / f"{codec}.avi", seconds=3, fps=10, codec=codec)
    owner = UserFactory()
    video = video_create(
        owner=owner,
        uploaded_file=SimpleUploadedFile(f"{codec}.avi", clip.read_bytes(), content_type="video/x-msvideo"),
        title=f"Harbour {codec}",
    )
    video = wait_for_state(video.pk, {"completed", "failed"})
    assert video.workflow_state == "completed", video.last_error_message
    assert video.playback_kind == "rendition"

    sign_in(page, owner)
    page.goto(f"/videos/{video.pk}/")
    expect(page.locator("#playback-unavailable")).to_have_count(0)
    page.wait_for_function("() => document.getElementById('video').readyState >= 2")
    page.evaluate("document.getElementById('video').play()")
    page.wait_for_function("() => document.getElementById('video').currentTime > 0.5")
    state = page.evaluate(MEDIA_STATE)
    assert state["error"] is None and state["width"] == 320
    assert "/media/signed/renditions/" in state["src"]  # the rendition, by its signed URL
    page.evaluate("document.getElementById('video').pause()")
    screenshot(page, f"playback_avi_{codec}")
    console_problems.assert_none()


def test_a_video_with_nothing_playable_says_so_and_offers_the_original(page, console_problems):
    owner = UserFactory()
    clip_owner_video = _unplayable_video(owner)

    sign_in(page, owner)
    page.goto(f"/videos/{clip_owner_video.pk}/")
    notice = page.locator("#playback-unavailable")
    expect(notice).to_contain_text("This video cannot be played here.")
    expect(notice).to_contain_text("no codec in this browser")
    expect(notice.get_by_role("link", name="Download the original file")).to_have_attribute(
        "href", f"/videos/{clip_owner_video.pk}/file"
    )
    expect(page.locator("#player")).to_be_hidden()
    screenshot(page, "playback_none")
    console_problems.assert_none()


def _unplayable_video(owner) -> Video:
    """A stored video the worker found no way to play (recorded as it records it)."""
    from pathlib import Path
    from tempfile import TemporaryDirectory

    with TemporaryDirectory() as scratch:
        clip = write_test_video(Path(scratch) / "tape.avi", seconds=1, fps=10, codec="mpeg4")
        video = video_create(
            owner=owner,
            uploaded_file=SimpleUploadedFile("tape.avi", clip.read_bytes(), content_type="video/x-msvideo"),
            title="Old tape",
            enqueue=False,
        )
    Video.objects.filter(pk=video.pk).update(
        playback_kind="none", playback_reason="The tape's codec has no codec in this browser."
    )
    return video
