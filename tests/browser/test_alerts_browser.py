"""Staff see platform alerts open and resolve live in the banner on every page (templates/_alerts.html,
static/js/alerts.js over the real /ws/alerts/ socket); other users get no banner at all."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from notifications.services.alerts import alerts_evaluate
from processing.models import JobStatus
from tests.browser.conftest import screenshot, sign_in
from tests.factories import ProcessingJobFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e, pytest.mark.browser]


def failed_jobs(count: int) -> None:
    finished_at = timezone.now() - timedelta(seconds=5)
    for _ in range(count):
        ProcessingJobFactory(
            status=JobStatus.FAILED,
            started_at=finished_at - timedelta(seconds=3),
            finished_at=finished_at,
            video__workflow_state="failed",
        )


def test_staff_see_an_alert_open_and_resolve_live(page, console_problems, settings):
    settings.ALERT_WINDOW_SECONDS = 3600
    sign_in(page, UserFactory(is_staff=True))
    banner = page.get_by_role("region", name="Platform alerts")
    expect(page.locator("#platform-alerts")).to_be_hidden()

    failed_jobs(2)
    alerts_evaluate()  # as the beat task does every minute

    failed = banner.locator("li[data-check='failed_rate']")
    expect(failed).to_contain_text("Failed processing rate: 100.0% (threshold 15.0%, window 3600 s)")
    expect(failed.locator(".alert-severity")).to_have_text("critical")
    expect(banner.get_by_role("link", name="All alerts in the admin")).to_have_attribute(
        "href", "/admin/notifications/alert/"
    )
    screenshot(page, "alerts-banner-open")

    # A page opened now gets the open alerts in the socket's snapshot.
    page.reload()
    expect(failed).to_contain_text("Failed processing rate")

    settings.ALERT_WINDOW_SECONDS = 1  # the failures leave the window: recovered
    alerts_evaluate()
    expect(failed).to_contain_text("Failed processing rate: 0.0% (threshold 15.0%, window 3600 s), was critical")
    expect(failed.locator(".alert-severity")).to_have_text("resolved")
    screenshot(page, "alerts-banner-resolved")
    console_problems.assert_none()


def test_other_users_get_no_alert_banner(page, console_problems):
    sign_in(page, UserFactory())
    expect(page.locator("#platform-alerts")).to_have_count(0)
    console_problems.assert_none()
