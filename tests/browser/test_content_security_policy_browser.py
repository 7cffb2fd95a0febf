"""The Content-Security-Policy in a real browser: the pages work and the browser reports no violation.

A blocked script, style or connection shows up as a console error, which `console_problems` collects.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def test_the_swagger_ui_renders_under_the_policy(page, console_problems):
    response = page.goto("/api/docs/")
    assert "Content-Security-Policy" in response.headers or "content-security-policy" in response.headers
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    expect(page.get_by_text("/api/v1/videos/", exact=True).first).to_be_visible()
    console_problems.assert_none()


def test_the_dashboard_and_its_live_socket_work_under_the_policy(page, console_problems):
    user = UserFactory()
    sign_in(page, user)
    policy = page.request.get("/").headers["content-security-policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    # dashboard.js opens /ws/videos/ once the page is up; a blocked socket would be a console error.
    page.wait_for_function("() => document.readyState === 'complete'")
    page.wait_for_timeout(1500)
    expect(page).to_have_url(re.compile(r"/$"))
    console_problems.assert_none()


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
