"""Run options where people work: the demo notice, options chosen on the upload form, the run list naming the
model and options, another run with its own detections, and switching the drawn run."""

from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from processing.models import Detection, ProcessingJob
from processing.services.registry import detector_model_register
from tests.browser.conftest import TIMEOUT_MS, screenshot, sign_in, wait_for_state
from tests.factories import UserFactory
from tests.videofiles import write_test_video
from videos.models import Video

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

NOTICE = "Demo model: finds synthetic shapes only (box, disc, triangle, ring, cross)."


def wait_for_job(job_id, timeout: float = 300) -> ProcessingJob:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = ProcessingJob.objects.get(pk=job_id)
        if job.status in ("completed", "failed", "cancelled"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"run {job_id} did not finish within {timeout}s")


def test_options_on_the_form_another_run_and_switching_runs(page, console_problems, live_worker_process, tmp_path):
    demo = detector_model_register(
        name="default-detector",
        version="demo",
        weights_path=str(Path(settings.BASE_DIR) / "processing" / "weights" / "default-detector.pt"),
        image_size=256,
        is_default=True,
    )
    user = UserFactory()
    clip = write_test_video(tmp_path / "square.mp4", seconds=3, fps=10)
    sign_in(page, user)
    expect(page.locator(".demo-notice")).to_contain_text(NOTICE)
    expect(page.locator(".demo-notice code")).to_have_text("python manage.py install_model yolo11n --default")

    # The form lists the model with its classes and offers them as checkboxes.
    form = page.locator("#upload-run-options")
    expect(form.get_by_label("Model")).to_contain_text("default-detector (default): 5 classes")
    expect(form.locator("input[name=classes]")).to_have_count(5)
    page.locator("#upload-file").set_input_files(str(clip))
    page.locator("#upload-title").fill("Square")
    form.get_by_label("Model").select_option("default-detector")
    form.get_by_label("Every Nth frame").fill("2")
    form.get_by_label("Confidence ≥").fill("0.3")
    form.get_by_label("Track objects").check()
    screenshot(page, "run_options_upload_form")
    page.get_by_role("button", name="Upload").click()

    row = page.locator("#video-rows tr[data-video-id]").filter(has_text="Square")
    expect(row).to_have_count(1)
    video = wait_for_state(Video.objects.get(owner=user).pk, {"completed", "failed"})
    assert video.workflow_state == "completed", video.last_error_message
    first = ProcessingJob.objects.get(video=video)
    assert (first.frame_step, first.track, first.confidence, first.detector_model_id) == (2, True, 0.3, demo.pk)

    page.goto(f"/videos/{video.pk}/")
    expect(page.locator(".demo-notice")).to_contain_text(NOTICE)
    runs = page.locator("#run-list li.run")
    expect(runs).to_have_count(1)
    expect(runs.first.locator(".run-model")).to_have_text(str(demo))
    expect(runs.first.locator(".run-options-used")).to_contain_text("every 2nd frame")
    expect(runs.first.locator(".run-options-used")).to_contain_text("confidence ≥ 0.3")
    expect(runs.first.locator(".run-options-used")).to_contain_text("tracked")
    page.wait_for_function("() => Number(document.getElementById('overlay').dataset.drawn) >= 0")

    # Another run with another frame step: a run of its own, with its own detections.
    page.locator("details.another-run summary").click()
    another = page.locator("#another-run-options")
    another.get_by_label("Every Nth frame").fill("3")
    page.get_by_role("button", name="Another run").click()
    expect(page.locator("#action-message")).to_have_text("Another run queued.", timeout=TIMEOUT_MS)
    second = ProcessingJob.objects.filter(video=video).exclude(pk=first.pk).get()
    second = wait_for_job(second.pk)
    assert second.status == "completed" and second.frame_step == 3 and second.reused_from_id is None
    assert Detection.objects.filter(job=second).count() == second.detections_count
    assert Detection.objects.filter(job=first).count() == first.detections_count

    page.reload()
    expect(runs).to_have_count(2, timeout=TIMEOUT_MS)
    expect(runs.nth(0).locator(".run-options-used")).to_contain_text("every 3rd frame")
    expect(page.locator("#run-list li.run.shown")).to_have_attribute("data-job-id", str(second.pk), timeout=TIMEOUT_MS)

    # Showing the first run draws its boxes: the overlay, chart and classes follow.
    runs.nth(1).get_by_role("button", name="Show boxes").click()
    expect(page.locator("#run-list li.run.shown")).to_have_attribute("data-job-id", str(first.pk), timeout=TIMEOUT_MS)
    assert page.evaluate("document.getElementById('video-page').dataset.drawnJob") == str(first.pk)
    screenshot(page, "run_options_run_list")
    console_problems.assert_none()
