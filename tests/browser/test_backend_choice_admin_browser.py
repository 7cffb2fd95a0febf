"""Staff see in the admin which backend each worker host chose for a model, and which one ran a job."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from processing.models import InferenceBackendChoice, ProcessingJob
from tests.browser.conftest import PASSWORD, screenshot
from tests.factories import UserFactory
from tests.videofiles import write_test_video
from videos.services.creation import video_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def test_staff_see_the_measured_choice_and_the_backend_of_a_run(page, console_problems, tmp_path):
    admin_user = UserFactory(is_staff=True, is_superuser=True)
    InferenceBackendChoice.objects.create(
        weights_sha256="2b7381386bd17adf" * 4,
        model_name="default-detector.pt",
        input_height=384,
        input_width=640,
        host="worker-1",
        backend="openvino",
        precision="bf16",
        model_only_fps=115.6,
        trials=[
            {"backend": "openvino", "precision": "bf16", "model_only_fps": 115.6, "accepted": True, "reason": ""},
            {
                "backend": "openvino",
                "precision": "int8",
                "model_only_fps": 111.3,
                "accepted": False,
                "reason": "disagrees with f32: recall 1.000, precision 0.966 (needs 0.98 each)",
            },
        ],
    )
    clip = write_test_video(tmp_path / "harbour.mp4", seconds=1, fps=8)
    upload = SimpleUploadedFile("harbour.mp4", clip.read_bytes(), content_type="video/mp4")
    video = video_create(owner=UserFactory(), uploaded_file=upload, title="Harbour", enqueue=False)
    job = ProcessingJob.objects.get(video=video)
    ProcessingJob.objects.filter(pk=job.pk).update(inference_backend="openvino", inference_precision="bf16")

    page.goto("/admin/login/")
    page.get_by_label("Username").fill(admin_user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("log in", re.I)).click()
    page.goto("/admin/processing/inferencebackendchoice/")
    row = page.locator("#result_list tbody tr").first
    expect(row).to_contain_text("worker-1")
    expect(row).to_contain_text("openvino")
    expect(row).to_contain_text("bf16")
    screenshot(page, "admin_backend_choices")
    row.locator("th a").click()
    measured = page.locator(".field-candidates_measured")
    expect(measured.locator("tbody tr")).to_have_count(2)
    expect(measured.locator("tbody tr").nth(1)).to_contain_text("refused: disagrees with f32")
    screenshot(page, "admin_backend_choice_detail")

    page.goto(f"/admin/processing/processingjob/{job.pk}/change/")
    expect(page.locator(".field-inference_backend .readonly")).to_have_text("openvino")
    expect(page.locator(".field-inference_precision .readonly")).to_have_text("bf16")
    screenshot(page, "admin_job_backend")
    console_problems.assert_none()
