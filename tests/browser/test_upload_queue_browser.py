"""The upload queue in a real browser: two files at once by tus (one picked, one dropped on the page), the
browser going offline half-way, and both uploads going on from the server's offset when it is back."""

import base64
import hashlib

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in
from tests.factories import UserFactory
from tests.videofiles import write_test_video
from videos.models import Video

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

CHUNK = 64 * 1024

# Drops a file on the page's "Your videos" heading, far from the upload panel, as a person dragging it from
# their file manager would: the drop event carries the file in its DataTransfer.
DROP_FILE = """
([name, b64]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type: "video/x-matroska" }));
  const target = Array.from(document.querySelectorAll("h1")).find((h) => h.textContent.includes("Your videos"));
  for (const type of ["dragenter", "dragover", "drop"]) {
    target.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }
}
"""


def test_two_files_at_once_and_a_resume_after_going_offline(page, console_problems, live_server_process, tmp_path):
    user = UserFactory()
    # Uncompressed frames: 1.1 MB each, so each goes in some 18 chunks; the variants differ in content.
    picked = write_test_video(tmp_path / "pier.mkv", seconds=1, fps=10, codec="rawvideo", variant=1)
    dropped = write_test_video(tmp_path / "quay.mkv", seconds=1, fps=10, codec="rawvideo", variant=2)
    sign_in(page, user)
    form = page.locator("#upload-form")
    page.evaluate(f"f => {{ f.dataset.chunkSize = '{CHUNK}'; }}", form.element_handle())

    # Chunk six of all: the browser goes offline under the uploads, and that PATCH never arrives.
    seen = {"patches": 0, "offline": False, "offsets_after": []}

    def go_offline_mid_upload(route):
        request = route.request
        if request.method == "PATCH":
            seen["patches"] += 1
            if seen["offline"] is True:
                seen["offsets_after"].append(int(request.headers["upload-offset"]))
            if seen["patches"] == 6 and not seen["offline"]:
                seen["offline"] = "going"
                page.context.set_offline(True)
                return route.abort("internetdisconnected")
        return route.continue_()

    page.route("**/api/v1/tus/**", go_offline_mid_upload)

    page.locator("#upload-file").set_input_files(str(picked))
    page.evaluate(DROP_FILE, [dropped.name, base64.b64encode(dropped.read_bytes()).decode()])
    queue = page.locator("#upload-queue li.upload-item")
    expect(queue).to_have_count(2)
    expect(page.locator("#drop-zone .picked")).to_have_text("2 files ready to upload")
    expect(queue.filter(has_text="quay.mkv")).to_have_attribute("data-state", "ready")
    page.locator("#upload-run-options").get_by_label("Every Nth frame").fill("4")
    screenshot(page, "upload_queue_ready")
    page.get_by_role("button", name="Upload").click()

    offline_rows = page.locator('#upload-queue li.upload-item[data-state="offline"]')
    expect(offline_rows.first).to_be_visible()
    expect(page.locator("#upload-message")).to_contain_text("connection dropped")
    figures = offline_rows.first.locator(".upload-figures")
    expect(figures).to_contain_text("% · ")
    expect(figures).to_contain_text(" of 1.1 MiB")
    screenshot(page, "upload_queue_offline")

    seen["offline"] = True
    page.context.set_offline(False)
    done = page.locator('#upload-queue li.upload-item[data-state="done"]')
    expect(done).to_have_count(2)
    expect(done.first.locator(".upload-state")).to_contain_text("processing has been queued")
    expect(done.first.get_by_role("link", name="Open")).to_be_visible()
    expect(page.locator("#upload-progress")).to_be_hidden()
    screenshot(page, "upload_queue_done")

    # Resumed, not restarted: after the drop the first PATCHes start where the server's bytes ended.
    assert seen["offsets_after"] and min(seen["offsets_after"]) > 0, seen
    for clip in (picked, dropped):
        video = Video.objects.get(owner=user, original_filename=clip.name)
        content = clip.read_bytes()
        assert video.size_bytes == len(content) and video.file_hash == hashlib.sha256(content).hexdigest()
        assert video.jobs.get().frame_step == 4
    expect(page.locator("#video-rows tr[data-video-id]")).to_have_count(2)
    console_problems.assert_none(ignore=("ERR_INTERNET_DISCONNECTED", "ERR_FAILED"))


def test_cancel_stops_a_running_upload_and_the_url_import_has_its_tab(page, console_problems, tmp_path):
    user = UserFactory()
    clip = write_test_video(tmp_path / "harbour.mkv", seconds=1, fps=10, codec="rawvideo")
    sign_in(page, user)
    # A slow uplink (about 200 KiB/s), so the upload is still running when the person cancels it.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 200 * 1024},
    )
    page.locator("#upload-file").set_input_files(str(clip))
    page.get_by_role("button", name="Upload").click()
    row = page.locator("#upload-queue li.upload-item")
    expect(row).to_have_attribute("data-state", "uploading")
    expect(row.locator(".upload-figures")).to_contain_text(" left")
    screenshot(page, "upload_queue_running")
    with page.expect_response(lambda response: response.request.method == "DELETE") as terminated:
        row.get_by_role("button", name="Cancel harbour.mkv").click()
    assert terminated.value.status == 204 and "/api/v1/tus/" in terminated.value.url
    expect(row).to_have_count(0)
    expect(page.locator("#upload-message")).to_have_text("Cancelled harbour.mkv.")
    assert not Video.objects.filter(owner=user).exists()

    # The URL import is a tab of its own, reached by keyboard too.
    page.get_by_role("tab", name="Files").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Import from a URL")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_label("Video URL")).to_be_visible()
    expect(page.locator("#upload-file")).to_be_hidden()
    page.get_by_label("Video URL").fill("http://169.254.169.254/clip.mp4")
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-message")).to_have_class("message error")
    screenshot(page, "upload_panel_url_tab")
    # The refused import (the cloud metadata address, refused whatever networks are opened) is the one failed request.
    console_problems.assert_none(ignore=("HTTP 400 POST", "status of 400"))
