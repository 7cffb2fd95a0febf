"""The admin in a real browser: staff retry a failed video and the worker takes it to completed."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from processing.models import ProcessingErrorLog
from tests.browser.conftest import PASSWORD, screenshot, wait_for_state
from tests.factories import UserFactory
from tests.videofiles import write_test_video
from videos.services.creation import video_create
from videos.services.transitions import video_transition

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def test_admin_retries_a_failed_video(page, console_problems, live_worker_process, tmp_path):
    owner = UserFactory()
    admin_user = UserFactory(is_staff=True, is_superuser=True)
    clip = write_test_video(tmp_path / "quay.mp4", seconds=2, fps=10)
    upload = SimpleUploadedFile("quay.mp4", clip.read_bytes(), content_type="video/mp4")
    video = video_create(owner=owner, uploaded_file=upload, title="Quay", enqueue=False)
    video_transition(video_id=video.pk, transition_name="fail", reason="worker lost")
    ProcessingErrorLog.objects.create(
        video=video,
        job=video.jobs.get(),
        stage="inference",
        error_type="internal_error",
        message="worker lost",
        recovery_strategy="manual_intervention",
    )

    page.goto("/admin/login/")
    page.get_by_label("Username").fill(admin_user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("log in", re.I)).click()
    page.goto("/admin/videos/video/?workflow_state__exact=failed")
    page.get_by_role("link", name="Quay").click()
    expect(page.locator(".field-workflow_state .readonly")).to_contain_text("Failed")
    expect(page.locator("body")).to_contain_text("worker lost")
    screenshot(page, "admin_failed_video")

    page.get_by_role("button", name="Retry").click()
    expect(page.locator(".messagelist .success")).to_contain_text("queued for retry")
    assert wait_for_state(video.pk, {"completed"}).objects_detected_count > 0
    page.reload()
    expect(page.locator(".field-workflow_state .readonly")).to_contain_text("Completed")
    expect(page.locator(".field-stage_timeline")).to_contain_text("inference")

    # Retrying a completed video is refused by the state machine, shown as an admin message.
    page.get_by_role("button", name="Retry").click()
    expect(page.locator(".messagelist .error")).to_contain_text("Only a failed video can be retried")
    screenshot(page, "admin_retry_refused")
    console_problems.assert_none()
