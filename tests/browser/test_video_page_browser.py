"""The video page in a real browser: the video plays, boxes are drawn over it, the panels fill in."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

CANVAS_HAS_INK = """() => {
  const c = document.getElementById("overlay");
  const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let ink = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) ink++;
  return ink;
}"""


def test_video_page_plays_and_draws_the_boxes(page, console_problems, processed_video):
    video = processed_video
    assert video.workflow_state == "completed", video.last_error_message
    sign_in(page, video.owner)
    page.get_by_role("link", name="Street corner").click()
    page.wait_for_url(f"**/videos/{video.pk}/")
    expect(page.locator("#state-badge")).to_have_text("completed")
    expect(page.locator("#live-status")).to_have_text("live")

    # The file is served with ranges and the browser can decode it.
    page.wait_for_function("() => document.getElementById('video').readyState >= 2")
    # Detections are loaded and drawn for the frame shown.
    page.wait_for_function("() => Number(document.getElementById('overlay').dataset.drawn) > 0")
    assert page.evaluate(CANVAS_HAS_INK) > 0
    expect(page.locator("#class-filter label").first).to_be_visible()
    expect(page.locator("#chart svg polyline").first).to_be_attached()
    expect(page.locator("#timeline li")).not_to_have_count(0)
    expect(page.locator("#timeline")).to_contain_text("Inference")
    expect(page.locator("#timeline .duration").first).to_contain_text(" s")
    expect(page.get_by_role("button", name="Another run")).to_be_enabled()
    expect(page.get_by_role("button", name="Retry")).to_be_disabled()
    expect(page.locator("#exports a[data-format=coco]")).to_have_attribute(
        "href", f"/api/v1/jobs/{video.jobs.get().pk}/export/coco/"
    )

    # Playing moves the picture and the boxes follow the frames.
    page.evaluate("document.getElementById('video').play()")
    page.wait_for_function("() => Number(document.getElementById('overlay').dataset.frame) >= 5")
    page.evaluate("document.getElementById('video').pause()")
    page.evaluate("document.getElementById('video').currentTime = 1.0")
    page.wait_for_function("() => document.getElementById('overlay').dataset.frame === '10'")
    screenshot(page, "video_page_boxes")

    # The confidence slider hides every box at 1.0; unticking every class does the same.
    page.locator("#confidence").fill("1")
    page.wait_for_function("() => document.getElementById('overlay').dataset.drawn === '0'")
    assert page.evaluate(CANVAS_HAS_INK) == 0
    page.locator("#confidence").fill("0")
    page.wait_for_function("() => Number(document.getElementById('overlay').dataset.drawn) > 0")
    for box in page.locator("#class-filter input[type=checkbox]").all():
        box.uncheck()
    page.wait_for_function("() => document.getElementById('overlay').dataset.drawn === '0'")
    console_problems.assert_none()


def test_video_page_actions_show_the_apis_answers(page, console_problems, processed_video):
    video = processed_video
    sign_in(page, video.owner)
    page.goto(f"/videos/{video.pk}/")
    expect(page.locator("#state-badge")).to_have_text("completed")
    page.get_by_role("button", name="Archive").click()
    # Nothing un-archives a video: the page asks first, and keeping it changes nothing.
    dialog = page.get_by_role("dialog", name="Archive this video?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Keep it as it is").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#state-badge")).to_have_text("completed")
    page.get_by_role("button", name="Archive").click()
    dialog.get_by_role("button", name="Archive", exact=True).click()
    expect(page.locator("#action-message")).to_have_text("Archived.")
    expect(page.locator("#state-badge")).to_have_text("archived")
    expect(page.get_by_role("button", name="Archive")).to_be_disabled()
    # A second archive from a stale tab is refused by the state machine: the 409 message is shown.
    page.evaluate(
        "document.querySelector('[data-action=archive]').disabled = false;"
        "document.querySelector('[data-action=archive]').click()"
    )
    dialog.get_by_role("button", name="Archive", exact=True).click()
    expect(page.locator("#action-message")).to_contain_text("Only a completed or failed video can be archived")
    expect(page.locator("#action-message")).to_have_class("message error")
    screenshot(page, "video_page_409")
    console_problems.assert_none(ignore=("status of 409", "HTTP 409 POST"))
