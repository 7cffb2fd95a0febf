"""The annotated video on the video page, in a real browser: choose options, press the button, download the MP4."""

import re

import av
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in
from tests.factories import UserFactory
from tests.processing.test_annotated_video import FRAMES, completed_run, stored_clip_video

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

# Every text the status line shows, so the test can tell the render was followed on its way to ready.
RECORD_STATUSES = """() => {
  window.annotatedStatuses = [];
  const line = document.getElementById("annotated-video-status");
  new MutationObserver(() => window.annotatedStatuses.push(line.textContent)).observe(
    line, { childList: true, characterData: true, subtree: true });
}"""


def test_the_annotated_video_is_made_and_downloaded(page, console_problems, live_worker_process, tmp_path):
    user = UserFactory()
    video = stored_clip_video(user, tmp_path, title="Street corner")
    job = completed_run(video, track=True)
    sign_in(page, user)
    page.goto(f"/videos/{video.pk}/")
    expect(page.locator("#live-status")).to_have_text("live")

    page.get_by_text("Annotated video", exact=True).click()
    panel = page.locator("#annotated-video")
    expect(panel.get_by_label("car")).to_be_visible()
    panel.get_by_label("car").check()
    panel.get_by_label("Confidence ≥").fill("0.5")
    panel.get_by_label("Track trails").check()
    screenshot(page, "annotated_video_options")

    expect(panel.get_by_role("link", name="Download the annotated MP4")).not_to_be_visible()
    page.evaluate(RECORD_STATUSES)
    panel.get_by_role("button", name="Make annotated video").click()
    link = panel.get_by_role("link", name="Download the annotated MP4")
    expect(link).to_be_visible()
    expect(panel.locator("#annotated-video-status")).to_have_text(
        re.compile(r"The annotated video is ready \(\d+ KB\)\.")
    )
    expect(panel.locator("#annotated-video-progress")).not_to_be_visible()
    statuses = page.evaluate("window.annotatedStatuses")
    assert any(text.startswith(("Queued", "Rendering")) for text in statuses), statuses
    screenshot(page, "annotated_video_ready")

    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename == f"run-{job.pk}-annotated.mp4"
    saved = tmp_path / "downloaded.mp4"
    download.save_as(saved)
    with av.open(str(saved)) as container:
        assert sum(1 for _ in container.decode(container.streams.video[0])) == FRAMES

    # The same options again: the file is there already, no second render.
    panel.get_by_role("button", name="Make annotated video").click()
    expect(panel.locator("#annotated-video-status")).to_contain_text("The annotated video is ready")
    assert job.annotated_videos.count() == 1
    console_problems.assert_none()


def test_bad_options_are_explained_in_the_page(page, console_problems, tmp_path):
    user = UserFactory()
    video = stored_clip_video(user, tmp_path, title="Pier")
    completed_run(video, track=False)
    sign_in(page, user)
    page.goto(f"/videos/{video.pk}/")
    page.get_by_text("Annotated video", exact=True).click()
    panel = page.locator("#annotated-video")
    expect(panel.get_by_label("Track trails")).to_be_disabled()
    expect(panel.locator("#annotated-trails-help")).to_have_text("(this run was not tracked)")
    panel.get_by_label("Confidence ≥").fill("2")
    panel.get_by_role("button", name="Make annotated video").click()
    expect(panel.locator("#annotated-video-status")).to_have_text("Confidence must be a number from 0 to 1.")
    expect(panel.locator("#annotated-video-status")).to_have_class("message error")
    expect(panel.get_by_role("link", name="Download the annotated MP4")).not_to_be_visible()
    expect(panel.get_by_label("Confidence ≥")).to_be_focused()
    screenshot(page, "annotated_video_bad_option")
    console_problems.assert_none()
