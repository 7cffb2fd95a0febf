"""The model registry: weights proven by loading, a single default, runs that name their model."""

import pytest
import torch
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from ultralytics import YOLO

from processing.models import DetectorModel, ProcessingJob
from processing.services.jobs import JobOptions, job_create
from processing.services.registry import detector_model_default
from tests.factories import UserFactory, VideoFactory
from tests.videofiles import write_test_video
from videos.models import Video

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def weights_path(tmp_path_factory):
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("weights") / "tiny-detector.pt"
    YOLO("yolov8n.yaml").save(str(path))
    return path


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_admin_registers_weights_that_load(staff_client, weights_path):
    with weights_path.open("rb") as handle:
        response = staff_client.post(
            "/admin/processing/detectormodel/add/",
            {"name": "tiny", "version": "1", "weights": handle, "input_size": 320, "make_default": "on"},
        )
    assert response.status_code == 302, response.content.decode()[-2000:]
    model = DetectorModel.objects.get(name="tiny")
    assert model.is_default and len(model.sha256) == 64
    assert len(model.class_names) == 80
    assert detector_model_default() == model


def test_making_a_model_default_in_the_admin_takes_the_flag_from_the_other(staff_client):
    first = DetectorModel.objects.create(name="first", version="1", weights="detectors/first.pt", is_default=True)
    second = DetectorModel.objects.create(name="second", version="1", weights="detectors/second.pt")

    response = staff_client.post(
        f"/admin/processing/detectormodel/{second.pk}/change/",
        {"name": "second", "version": "1", "input_size": 640, "make_default": "on", "description": ""},
    )

    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    assert list(DetectorModel.objects.filter(is_default=True)) == [second]
    first.refresh_from_db()
    assert not first.is_default


def test_admin_refuses_weights_that_do_not_load(staff_client):
    response = staff_client.post(
        "/admin/processing/detectormodel/add/",
        {
            "name": "broken",
            "version": "1",
            "input_size": 320,
            "weights": SimpleUploadedFile("broken.pt", b"definitely not a checkpoint"),
        },
    )
    assert response.status_code == 200
    assert "These weights do not load" in response.content.decode()
    assert not DetectorModel.objects.exists()


def test_the_configured_weights_are_registered_as_default_on_first_use(settings, weights_path):
    settings.DETECTOR_WEIGHTS = str(weights_path)
    video = VideoFactory()

    job = job_create(video=video, enqueue=False)

    model = DetectorModel.objects.get(is_default=True)
    assert job.detector_model == model
    assert model.name == "tiny-detector"
    assert job_create(video=VideoFactory(), enqueue=False).detector_model == model, "registered once"


def test_a_run_can_name_a_registered_model(weights_path, staff_client):
    with weights_path.open("rb") as handle:
        staff_client.post(
            "/admin/processing/detectormodel/add/",
            {"name": "second", "version": "2", "weights": handle, "input_size": 320},
        )
    job = job_create(video=VideoFactory(), options=JobOptions(model_name="second"), enqueue=False)
    assert job.model_name == "second v2"
    with pytest.raises(ValueError, match="No registered model"):
        job_create(video=VideoFactory(), options=JobOptions(model_name="nonexistent"), enqueue=False)


@pytest.mark.django_db(transaction=True)
def test_process_video_command_runs_the_pipeline_in_the_foreground(tmp_path, capsys):
    path = write_test_video(tmp_path / "street.mp4", seconds=2, fps=10)

    call_command("process_video", str(path), "--frame-step", "2")

    out = capsys.readouterr()
    video = Video.objects.get(original_filename="street.mp4")
    job = ProcessingJob.objects.get(video=video)
    assert video.workflow_state == "completed"
    assert "completed" in out.out and f"detections: {job.detections_count}" in out.out
    assert "frames: 10 of 20" in out.out
    assert "frames/s" in out.err
