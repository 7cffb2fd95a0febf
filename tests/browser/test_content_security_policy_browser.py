"""The Content-Security-Policy in a real browser: the pages work and the browser reports no violation.

A blocked script, style or connection shows up as a console error, which `console_problems` collects, and
as a `securitypolicyviolation` event, which `RECORD_VIOLATIONS` keeps in the page: a page passes when
neither saw anything. Each page is looked at once its scripts have drawn what they draw.
"""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, running_video, screenshot, sign_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

# Runs before any of the page's own scripts, in every document the page opens.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.effectiveDirective}: ${event.blockedURI || "inline"} at ${event.sourceFile}:${event.lineNumber}`
  );
});
"""


def watch_for_violations(page: Page) -> None:
    page.add_init_script(RECORD_VIOLATIONS)


def violations(page: Page) -> list[str]:
    return page.evaluate("window.__cspViolations")


def assert_no_violation(page: Page, console_problems) -> None:
    assert violations(page) == [], page.url
    console_problems.assert_none()


def directive(policy: str, name: str) -> list[str]:
    for part in policy.split(";"):
        words = part.split()
        if words and words[0] == name:
            return words[1:]
    raise AssertionError(f"no {name} in {policy!r}")


def test_the_sign_in_page_runs_under_the_policy(page, console_problems):
    watch_for_violations(page)
    response = page.goto("/accounts/login/")
    policy = response.headers["content-security-policy"]
    assert directive(policy, "script-src") == ["'self'"]
    assert directive(policy, "style-src") == ["'self'"]
    expect(page.get_by_label("Username")).to_be_focused()
    assert_no_violation(page, console_problems)


def test_the_swagger_ui_renders_under_the_policy(page, console_problems):
    watch_for_violations(page)
    response = page.goto("/api/docs/")
    assert directive(response.headers["content-security-policy"], "style-src") == ["'self'"]
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    expect(page.get_by_text("/api/v1/videos/", exact=True).first).to_be_visible()
    # Its own stylesheet still applies (the rules that were in drf-spectacular's <style> block).
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(250, 250, 250)"
    # An opened operation draws its parameters and the highlighted example responses.
    page.locator(".swagger-ui .opblock-summary").first.click()
    expect(page.locator(".swagger-ui .opblock-body").first).to_be_visible()
    expect(page.locator(".swagger-ui .responses-wrapper").first).to_be_visible()
    screenshot(page, "swagger_ui_strict_policy")
    assert_no_violation(page, console_problems)


def test_the_dashboard_and_video_pages_run_under_the_policy(page, console_problems, processed_video, tmp_path):
    completed = processed_video
    assert completed.workflow_state == "completed", completed.last_error_message
    running = running_video(completed.owner, tmp_path)
    watch_for_violations(page)
    sign_in(page, completed.owner)

    expect(page.locator("#live-status")).to_have_text("live")
    rows = page.locator("#video-rows tr[data-video-id]")
    expect(rows).to_have_count(2)
    # The server renders progress as a <progress>, not as a width in a style attribute.
    running_row = rows.filter(has_text="Pier")
    expect(running_row.locator("progress")).to_have_js_property("value", 37.2)
    expect(running_row.locator(".pct")).to_have_text("37%")
    expect(rows.filter(has_text="Street corner").locator("progress")).to_have_js_property("value", 100)
    assert_no_violation(page, console_problems)

    page.goto(f"/videos/{running.pk}/")
    expect(page.locator("#state-badge")).to_have_text("processing")
    expect(page.locator("#live-status")).to_have_text("live")
    expect(page.get_by_role("progressbar", name="Processing progress")).to_have_js_property("value", 37.2)
    expect(page.locator("#fig-progress")).to_have_text("37%")
    screenshot(page, "video_page_running_strict_policy")
    assert_no_violation(page, console_problems)

    page.goto(f"/videos/{completed.pk}/")
    expect(page.locator("#live-status")).to_have_text("live")
    # The scripts' own styling (class swatches, stage durations, the chart) goes through the DOM.
    page.wait_for_function("() => Number(document.getElementById('overlay').dataset.drawn) > 0")
    expect(page.locator("#class-filter .swatch").first).to_be_visible()
    expect(page.locator("#timeline .fill").first).to_be_attached()
    expect(page.locator("#chart svg polyline").first).to_be_attached()
    expect(page.get_by_role("progressbar", name="Processing progress")).to_have_js_property("value", 100)
    assert_no_violation(page, console_problems)


def test_the_admin_runs_under_the_policy(page, console_problems, tmp_path):
    admin_user = UserFactory(is_staff=True, is_superuser=True)
    video = running_video(UserFactory(), tmp_path)
    watch_for_violations(page)
    page.goto("/admin/login/")
    page.get_by_label("Username").fill(admin_user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("log in", re.I)).click()
    expect(page.locator("#site-name")).to_be_visible()
    assert_no_violation(page, console_problems)

    page.goto("/admin/videos/video/")
    expect(page.get_by_role("link", name="Pier")).to_be_visible()
    assert_no_violation(page, console_problems)

    page.goto(f"/admin/videos/video/{video.pk}/change/")
    # The transition buttons and the stage timeline take their look from admin_video.css, not a <style> block.
    cancel = page.get_by_role("button", name="Cancel")
    expect(cancel).to_be_visible()
    expect(cancel).to_have_css("text-transform", "uppercase")
    # Not allowed now: outlined, not faded.
    expect(page.get_by_role("button", name="Retry")).to_have_css("border-top-style", "dashed")
    expect(page.locator("table.stage-timeline th").first).to_have_css("padding-right", "10px")
    screenshot(page, "admin_change_strict_policy")
    assert_no_violation(page, console_problems)


def test_the_dashboard_and_its_live_socket_work_under_the_policy(page, console_problems):
    watch_for_violations(page)
    user = UserFactory()
    sign_in(page, user)
    policy = page.request.get("/").headers["content-security-policy"]
    assert "'unsafe-inline'" not in directive(policy, "script-src")
    assert "'unsafe-inline'" not in directive(policy, "style-src")
    # dashboard.js opens /ws/videos/ once the page is up; a blocked socket would be a console error.
    page.wait_for_function("() => document.readyState === 'complete'")
    expect(page.locator("#live-status")).to_have_text("live")
    expect(page).to_have_url(re.compile(r"/$"))
    assert_no_violation(page, console_problems)


def test_an_injected_inline_script_does_not_run(page, console_problems):
    """The policy is enforced, not just sent: markup that slipped into a page could not run a script."""
    sign_in(page, UserFactory())
    page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.injectedScriptRan = true";
            document.body.appendChild(script);
        }"""
    )
    assert page.evaluate("() => window.injectedScriptRan === undefined")
    assert any("Content Security Policy" in problem for problem in console_problems)


def test_injected_inline_styles_are_refused_and_reported(page, console_problems):
    """Neither a <style> element nor a style attribute applies, and both are reported: the checks above can fail."""
    watch_for_violations(page)
    sign_in(page, UserFactory())
    applied = page.evaluate(
        """() => {
            const style = document.createElement("style");
            style.textContent = "body { text-indent: 7px; }";
            document.head.appendChild(style);
            const holder = document.createElement("div");
            holder.innerHTML = '<p id="injected" style="letter-spacing: 9px">x</p>';
            document.body.appendChild(holder);
            return {
                indent: getComputedStyle(document.body).textIndent,
                spacing: getComputedStyle(document.getElementById("injected")).letterSpacing,
            };
        }"""
    )
    assert applied == {"indent": "0px", "spacing": "normal"}
    page.wait_for_function("() => window.__cspViolations.length >= 2")
    directives = {violation.split(":")[0] for violation in violations(page)}
    assert directives == {"style-src-elem", "style-src-attr"}
    assert any("Content Security Policy" in problem for problem in console_problems)
