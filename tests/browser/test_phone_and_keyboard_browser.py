"""A phone-sized screen and a keyboard alone are enough to use the dashboard and the video page."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

# The elements that stick out to the right, to say what is too wide when something is.
WIDEST = """() => Array.from(document.querySelectorAll("body *"))
  .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .slice(0, 5).map((e) => `${e.tagName}.${e.className}#${e.id} ${Math.round(e.getBoundingClientRect().right)}`)"""
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1"


def test_dashboard_and_video_page_fit_a_phone(phone_page_and_problems, processed_video):
    page, problems = phone_page_and_problems
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(processed_video.owner.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").tap()
    expect(page.locator("#live-status")).to_have_text("live")
    expect(page.get_by_role("link", name="Street corner")).to_be_visible()
    wide = page.evaluate(WIDEST)
    assert page.evaluate(NO_SIDEWAYS_SCROLL), f"the dashboard scrolls sideways on a phone: {wide}"
    screenshot(page, "phone_dashboard")

    page.get_by_role("link", name="Street corner").tap()
    page.wait_for_function("() => Number(document.getElementById('overlay').dataset.drawn) > 0")
    expect(page.get_by_role("button", name="Another run")).to_be_visible()
    wide = page.evaluate(WIDEST)
    assert page.evaluate(NO_SIDEWAYS_SCROLL), f"the video page scrolls sideways on a phone: {wide}"
    screenshot(page, "phone_video_page")
    problems.assert_none()


def test_keyboard_alone_signs_in_and_acts(page, console_problems, processed_video):
    page.goto("/accounts/login/")
    # autofocus lands after the load event; typing before it would lose the first keystrokes.
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type(processed_video.owner.username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("#live-status")).to_have_text("live")

    # Tab until the video's link has the focus, then follow it with Enter.
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Street corner":
            break
    else:
        raise AssertionError("the video's link cannot be reached with Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/videos/{processed_video.pk}/")
    expect(page.locator("#state-badge")).to_have_text("completed")

    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset.action") == "archive":
            break
    else:
        raise AssertionError("the Archive button cannot be reached with Tab")
    # The focused control is visibly outlined.
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    screenshot(page, "keyboard_focus_archive")
    page.keyboard.press("Enter")
    # Archiving asks first; the safe answer has the focus, the next one archives.
    expect(page.get_by_role("button", name="Keep it as it is")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Archive", exact=True).last).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#state-badge")).to_have_text("archived")

    # The confidence slider moves with the arrow keys.
    page.locator("#confidence").focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#confidence-value")).to_have_text("0.01")
    console_problems.assert_none()
