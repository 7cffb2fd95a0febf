"""The dashboard in a real browser: sign in, upload through the page, follow processing live."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import TIMEOUT_MS, screenshot, sign_in, wait_for_state
from tests.factories import UserFactory
from tests.videofiles import write_test_video
from videos.models import Video

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

# Records every value the progress bars take, so a test can tell they moved without timing anything.
RECORD_PROGRESS = """
window.__progress = [];
new MutationObserver((records) => {
  for (const record of records) {
    const el = record.target;
    if (el.tagName === "PROGRESS") {
      const row = el.closest("tr[data-video-id]");
      window.__progress.push({where: row ? "row" : "upload", value: Number(el.getAttribute("value")) || 0});
    }
  }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ["value"]});
"""


def test_sign_in_page_rejects_a_wrong_password(page, console_problems):
    user = UserFactory()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/"))
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("did not match")
    screenshot(page, "login_refused")
    console_problems.assert_none()


def test_upload_through_the_page_and_follow_it_to_completed(page, console_problems, live_worker_process, tmp_path):
    user = UserFactory()
    clip = write_test_video(tmp_path / "harbour.mp4", seconds=4, fps=10)
    page.add_init_script(RECORD_PROGRESS)
    sign_in(page, user)
    expect(page.locator("#live-status")).to_have_text("live")
    expect(page.locator('#stats [data-stat="total_videos"]')).to_have_text("0")
    screenshot(page, "dashboard_empty")
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    page.locator("#upload-file").set_input_files(str(clip))
    page.locator("#upload-title").fill("Harbour")
    page.get_by_role("button", name="Upload").click()

    video = None
    row = page.locator("#video-rows tr[data-video-id]").filter(has_text="Harbour")
    expect(row).to_have_count(1)
    expect(row.locator(".badge")).to_have_text("completed", timeout=TIMEOUT_MS * 2)
    expect(row.locator(".pct")).to_have_text("100%")
    video = Video.objects.get(owner=user)
    assert row.get_attribute("data-video-id") == str(video.pk)
    assert int(row.locator(".objects").inner_text()) == video.objects_detected_count > 0
    # The figures of the last 24 hours followed without a reload.
    expect(page.locator('#stats [data-state="completed"]')).to_have_text("1")
    expect(page.locator('#stats [data-stat="total_objects_detected"]')).to_have_text(str(video.objects_detected_count))
    expect(page.locator('#stats [data-stat="avg_processing_time_seconds"]')).to_contain_text(" s")
    screenshot(page, "dashboard_completed")

    values = page.evaluate("window.__progress")
    upload = [v["value"] for v in values if v["where"] == "upload"]
    processing = [v["value"] for v in values if v["where"] == "row"]
    assert upload and max(upload) == 100, upload
    assert any(0 < value < 100 for value in processing), f"no intermediate progress seen: {processing}"
    assert processing == sorted(processing), processing
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    console_problems.assert_none()


def test_a_resumable_upload_survives_a_dropped_connection(page, console_problems, live_server_process, tmp_path):
    user = UserFactory()
    clip = write_test_video(tmp_path / "long.mp4", seconds=6, fps=10)
    size = clip.stat().st_size
    sign_in(page, user)
    # Every file goes by tus in chunks of 4 KiB here, so a small clip has several.
    page.evaluate("f => { f.dataset.chunkSize = '4096'; }", page.locator("#upload-form").element_handle())
    assert size > 4 * 4096

    patches = {"seen": 0, "dropped": 0}

    def drop_the_third_chunk(route):
        if route.request.method == "PATCH":
            patches["seen"] += 1
            if patches["seen"] == 3:
                patches["dropped"] += 1
                return route.abort("connectionreset")
        return route.continue_()

    page.route("**/api/v1/tus/**", drop_the_third_chunk)
    page.locator("#upload-file").set_input_files(str(clip))
    page.locator("#upload-title").fill("Chunked")
    page.get_by_role("button", name="Upload").click()

    expect(page.locator("#upload-message")).to_contain_text("Uploaded “Chunked”")
    assert patches["dropped"] == 1 and patches["seen"] > 4
    video = Video.objects.get(owner=user)
    assert video.size_bytes == size
    with video.file.open("rb") as stored:
        assert stored.read() == clip.read_bytes()
    expect(page.locator("#video-rows tr[data-video-id]").filter(has_text="Chunked")).to_have_count(1)
    screenshot(page, "dashboard_chunked_upload")
    wait_for_state(video.pk, {"completed", "failed"})  # let the worker finish before the tables are emptied
    console_problems.assert_none(ignore=("ERR_CONNECTION_RESET", "ERR_FAILED"))
