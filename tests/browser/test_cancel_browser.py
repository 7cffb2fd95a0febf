"""Cancelling from the video page, as a person would: the run stops and every page says "cancelled"."""

import pytest
from playwright.sync_api import expect

from processing.models import ProcessingJob
from tests.browser.conftest import running_video, screenshot, sign_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def test_cancel_on_the_video_page_reads_cancelled_there_and_on_the_dashboard(page, console_problems, tmp_path):
    owner = UserFactory()
    video = running_video(owner, tmp_path)
    sign_in(page, owner)
    page.goto(f"/videos/{video.pk}/")
    expect(page.locator("#state-badge")).to_have_text("processing")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel").click()

    expect(page.locator("#action-message")).to_have_text("Cancelled.")
    expect(page.locator("#state-badge")).to_have_text("cancelled")
    expect(page.locator("#state-badge")).to_have_class("badge state-cancelled")
    screenshot(page, "video_page_cancelled")
    assert ProcessingJob.objects.get(video_id=video.pk).status == "cancelled"

    page.goto("/")
    row = page.locator(f'tr[data-video-id="{video.pk}"]')
    expect(row.locator(".badge")).to_have_text("cancelled")
    expect(row.locator(".error-text")).to_have_text("")
    screenshot(page, "dashboard_cancelled")
    console_problems.assert_none()
