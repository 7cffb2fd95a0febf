"""Installing a real model from the admin, as staff would: the demo notice is there until it is the default."""

import time
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from processing.models import DetectorModel, InstallStatus, ModelInstall
from processing.services.registry import detector_model_register
from tests.browser.conftest import screenshot, sign_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

NOTICE = "Demo model: finds synthetic shapes only (box, disc, triangle, ring, cross)."


def wait_for_install(timeout: float = 300) -> ModelInstall:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        install = ModelInstall.objects.order_by("-created_at").first()
        if install is not None and install.status in (InstallStatus.INSTALLED, InstallStatus.FAILED):
            return install
        time.sleep(0.5)
    raise AssertionError(f"no install finished within {timeout}s")


def test_installing_a_catalog_model_in_the_admin_ends_the_demo_notice(
    page, console_problems, live_server_process, live_worker_process
):
    detector_model_register(
        name="default-detector",
        version="demo",
        weights_path=str(Path(settings.BASE_DIR) / "processing" / "weights" / "default-detector.pt"),
        image_size=256,
        is_default=True,
    )
    staff = UserFactory(is_staff=True, is_superuser=True)
    sign_in(page, staff)
    expect(page.locator(".demo-notice")).to_contain_text(NOTICE)
    screenshot(page, "model_install_demo_notice")

    page.goto("/admin/processing/modelinstall/add/")
    page.locator("#id_source").select_option("yolo11n")
    page.get_by_label("Make it the default model").check()
    page.get_by_role("button", name="Save", exact=True).click()
    install = wait_for_install()
    assert install.status == InstallStatus.INSTALLED, install.error
    model = DetectorModel.objects.get(pk=install.detector_model_id)
    assert model.is_default and model.name == "yolo11n" and len(model.sha256) == 64

    page.goto("/admin/processing/modelinstall/")
    expect(page.locator("#result_list")).to_contain_text("yolo11n")
    screenshot(page, "model_install_admin_list")
    page.goto("/")
    expect(page.locator(".demo-notice")).to_have_count(0)
    expect(page.locator("#upload-run-options").get_by_label("Model")).to_contain_text("yolo11n (default)")
    screenshot(page, "model_install_notice_gone")
    console_problems.assert_none()
