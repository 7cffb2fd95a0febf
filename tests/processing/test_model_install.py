"""Installing catalog models from a local server laid out like ultralytics' release assets: never the internet."""

import shutil
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from processing.catalog import CATALOG, COCO_CLASS_NAMES
from processing.models import DetectorModel, InstallStatus, ModelInstall
from processing.services.model_install import (
    DOWNLOAD_ATTEMPTS,
    InstallRefused,
    downloads_dir,
    model_install_request,
    model_install_run,
)
from tests.factories import TokenFactory, UserFactory
from tests.release_assets import RELEASE, AssetServer  # noqa: F401

pytestmark = pytest.mark.django_db

BUNDLED = Path(django_settings.BASE_DIR) / "processing" / "weights" / "default-detector.pt"


@pytest.fixture(autouse=True)
def no_partial_files():
    shutil.rmtree(downloads_dir(), ignore_errors=True)
    yield
    shutil.rmtree(downloads_dir(), ignore_errors=True)


@pytest.fixture
def assets(settings):
    with AssetServer({"yolo11n.pt": BUNDLED.read_bytes(), "yolov8n.pt": BUNDLED.read_bytes()}) as server:
        settings.MODEL_DOWNLOAD_BASE_URL = server.base_url
        yield server


@pytest.fixture
def staff_client(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {TokenFactory(user=UserFactory(is_staff=True)).key}")
    return client


def test_catalog_lists_the_coco_detectors_to_any_signed_in_user(api_client):
    response = api_client.get("/api/v1/models/catalog/")
    assert response.status_code == 200
    entries = {entry["name"]: entry for entry in response.json()}
    assert set(entries) >= {"yolo11n", "yolo11s", "yolo11m", "yolov8n", "yolov8s"}
    assert entries["yolo11n"]["class_names"] == list(COCO_CLASS_NAMES) and len(COCO_CLASS_NAMES) == 80
    assert entries["yolo11n"]["input_size"] == 640 and entries["yolo11n"]["cpu_fps"] > 0
    assert entries["yolo11n"]["installed"] is False


def test_staff_install_downloads_proves_and_registers_the_catalog_model(staff_client, assets):
    response = staff_client.post("/api/v1/models/install/", {"name": "yolo11n", "is_default": True}, format="json")
    assert response.status_code == 202, response.content
    # The worker's part, run here in the foreground.
    install = model_install_run(install_id=response.json()["id"])
    assert install.status == InstallStatus.INSTALLED
    assert install.bytes_done == install.bytes_total == BUNDLED.stat().st_size
    model = install.detector_model
    assert model.name == "yolo11n" and model.is_default and len(model.sha256) == 64
    assert model.class_names and not any(downloads_dir().glob("*.part"))
    followed = staff_client.get(f"/api/v1/models/installs/{install.pk}/")
    assert followed.status_code == 200 and followed.json()["status"] == "installed"
    again = staff_client.post("/api/v1/models/install/", {"name": "yolo11n"}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"


def test_unknown_catalog_name_is_404_and_non_staff_may_not_install(staff_client, api_client, assets):
    assert staff_client.post("/api/v1/models/install/", {"name": "yolo99z"}, format="json").status_code == 404
    assert staff_client.post("/api/v1/models/install/", {"name": "/etc/passwd"}, format="json").status_code == 404
    assert api_client.post("/api/v1/models/install/", {"name": "yolo11n"}, format="json").status_code == 403
    assert not ModelInstall.objects.exists()


def test_the_same_file_under_another_name_is_refused_as_a_conflict(assets):
    model_install_run(install_id=model_install_request(actor=None, source="yolo11n").pk)
    second = model_install_request(actor=None, source="yolov8n")
    with pytest.raises(InstallRefused) as refused:
        model_install_run(install_id=second.pk)
    assert refused.value.status_code == 409
    second.refresh_from_db()
    assert second.status == InstallStatus.FAILED and second.error_code == "conflict"
    assert DetectorModel.objects.count() == 1


def test_a_file_that_is_not_weights_is_refused_with_the_reason(settings):
    with AssetServer({"yolo11s.pt": b"<html>not weights</html>" * 100}) as server:
        settings.MODEL_DOWNLOAD_BASE_URL = server.base_url
        install = model_install_request(actor=None, source="yolo11s")
        with pytest.raises(InstallRefused) as refused:
            model_install_run(install_id=install.pk)
    assert refused.value.status_code == 422 and "not a PyTorch checkpoint" in refused.value.message
    install.refresh_from_db()
    assert install.status == InstallStatus.FAILED and install.error_code == "invalid_weights"
    assert not DetectorModel.objects.exists() and not any(downloads_dir().glob("*.part"))


def test_a_cut_download_resumes_with_a_range_request(settings):
    data = BUNDLED.read_bytes()
    with AssetServer({"yolo11n.pt": data}, cuts=1) as server:
        settings.MODEL_DOWNLOAD_BASE_URL = server.base_url
        install = model_install_run(install_id=model_install_request(actor=None, source="yolo11n").pk)
    assert server.ranges == [None, f"bytes={len(data) // 2}-"]
    assert install.status == InstallStatus.INSTALLED and install.detector_model.sha256 == install.sha256


def test_a_download_cut_every_time_fails_clearly_keeps_the_partial_file_and_registers_nothing(settings):
    data = BUNDLED.read_bytes()
    with AssetServer({"yolo11n.pt": data}, cuts=DOWNLOAD_ATTEMPTS) as server:
        settings.MODEL_DOWNLOAD_BASE_URL = server.base_url
        install = model_install_request(actor=None, source="yolo11n")
        with pytest.raises(InstallRefused) as refused:
            model_install_run(install_id=install.pk)
        assert refused.value.code == "download_failed" and "kept" in refused.value.message
        install.refresh_from_db()
        assert install.status == InstallStatus.FAILED and "cut" in install.error
        assert not DetectorModel.objects.exists()
        (partial,) = downloads_dir().glob("*.part")
        kept = partial.stat().st_size
        assert 0 < kept < len(data)
        # The next install of the same source picks up where this one stopped.
        resumed = model_install_run(install_id=model_install_request(actor=None, source="yolo11n").pk)
    assert resumed.status == InstallStatus.INSTALLED
    assert server.ranges[-1] == f"bytes={kept}-"


def test_user_given_urls_go_through_the_outbound_check(assets):
    with pytest.raises(InstallRefused) as refused:
        model_install_request(actor=None, source=assets.base_url + "yolo11n.pt")
    assert refused.value.code == "url_refused"


def test_the_command_installs_a_catalog_model_as_default_with_a_progress_bar(assets, capsys):
    call_command("install_model", "yolo11n", "--default")
    output = capsys.readouterr().out
    assert "100%" in output and "Installed yolo11n" in output
    assert DetectorModel.objects.get(is_default=True).name == "yolo11n"


def test_the_command_installs_a_local_path_and_refuses_an_unknown_name(tmp_path, db):
    copy = tmp_path / "street.pt"
    shutil.copy(BUNDLED, copy)
    call_command("install_model", str(copy))
    assert DetectorModel.objects.get().name == "street"
    with pytest.raises(CommandError, match="not in the model catalog"):
        call_command("install_model", "yolo99z")


def test_every_catalog_entry_names_its_release_file():
    assert all(entry.file_name == f"{name}.pt" for name, entry in CATALOG.items())


def test_the_admin_lists_the_catalog_and_installs_from_it(admin_client, assets, django_capture_on_commit_callbacks):
    page = admin_client.get("/admin/processing/modelinstall/add/")
    assert page.status_code == 200
    text = page.content.decode()
    assert all(name in text for name in CATALOG) and "frames/s" in text and "person" in text
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post("/admin/processing/modelinstall/add/", {"source": "yolo11n", "make_default": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    install = ModelInstall.objects.get()
    assert install.make_default and install.requested_by is not None and len(callbacks) == 1
    # The worker's part, run here in the foreground; the list then shows the outcome.
    model_install_run(install_id=install.pk)
    listing = admin_client.get("/admin/processing/modelinstall/").content.decode()
    assert "Installed" in listing and "100%" in listing
    assert admin_client.get(f"/admin/processing/modelinstall/{install.pk}/change/").status_code == 200
    refused = admin_client.post("/admin/processing/modelinstall/add/", {"source": "yolo11n"})
    assert refused.status_code == 200 and "installed already" in refused.content.decode()


def test_progress_is_pushed_to_the_sockets_that_follow_every_video(assets):
    from notifications.groups import ALL_VIDEOS_GROUP
    from tests.notifications.helpers import listen, receive

    channel = listen(ALL_VIDEOS_GROUP)
    install = model_install_run(install_id=model_install_request(actor=None, source="yolo11n").pk)
    events = []
    while not events or events[-1]["status"] != "installed":
        (message,) = receive(channel)
        assert message["type"] == "video.event"
        events.append(message["event"])
    assert {event["event_type"] for event in events} == {"model_install.progress"}
    assert all(event["install_id"] == install.pk for event in events)
    statuses = [event["status"] for event in events]
    assert statuses.index("downloading") < statuses.index("verifying") < statuses.index("installed")
    done = [event["bytes_done"] for event in events if event["status"] == "downloading"]
    assert done == sorted(done) and done[-1] == events[-1]["bytes_total"]


def test_the_celery_task_runs_the_install_and_records_a_refusal_without_raising(settings):
    from processing.tasks import install_model

    with AssetServer({"yolo11n.pt": BUNDLED.read_bytes(), "yolo11s.pt": b"junk" * 100}) as server:
        settings.MODEL_DOWNLOAD_BASE_URL = server.base_url
        good = model_install_request(actor=None, source="yolo11n")
        bad = model_install_request(actor=None, source="yolo11s")
        assert install_model.apply(args=[good.pk]).get() == "installed"
        assert install_model.apply(args=[bad.pk]).get() == "failed: invalid_weights"
    bad.refresh_from_db()
    assert bad.status == InstallStatus.FAILED and bad.error


def test_an_install_under_way_blocks_a_second_until_its_worker_is_long_gone(assets):
    from datetime import timedelta

    from django.utils import timezone

    first = model_install_request(actor=None, source="yolov8n")
    with pytest.raises(InstallRefused) as refused:
        model_install_request(actor=None, source="yolov8n")
    assert refused.value.status_code == 409
    ModelInstall.objects.filter(pk=first.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    assert model_install_request(actor=None, source="yolov8n").pk != first.pk


def test_with_media_in_the_object_store_the_download_stays_on_the_worker_and_the_weights_are_stored(
    settings, tmp_path, s3_media
):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_SCRATCH_DIR = tmp_path / "scratch"
    data = BUNDLED.read_bytes()
    with AssetServer({"yolo11n.pt": data}, cuts=1) as server:
        settings.MODEL_DOWNLOAD_BASE_URL = server.base_url
        install = model_install_run(install_id=model_install_request(actor=None, source="yolo11n").pk)

    assert server.ranges == [None, f"bytes={len(data) // 2}-"], "the cut download resumed from the worker's disk"
    assert downloads_dir() == tmp_path / "scratch" / "model-downloads"
    assert not any(downloads_dir().iterdir()), "nothing left once registered"
    model = install.detector_model
    assert install.status == InstallStatus.INSTALLED and model.sha256 == install.sha256
    stored = s3_media.client().get_object(Bucket=s3_media.bucket, Key=f"{s3_media.prefix}/{model.weights.name}")
    assert stored["Body"].read() == data
    assert not (tmp_path / "media").exists(), "nothing under MEDIA_ROOT"
