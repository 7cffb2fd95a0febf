"""ONNX weights exported by ultralytics: registered with their own class names and input size, and run."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from processing.detector import Detector, DetectorConfig, InputGeometry
from processing.models import Framework, InstallStatus
from processing.services.model_install import model_install_request, model_install_run
from processing.synthetic.scenes import make_scene, render_frame
from processing.weights_loading import WeightsRefused, onnx_metadata, yolo_load
from tests.factories import TokenFactory, UserFactory
from tests.processing.test_model_install import AssetServer, no_partial_files  # noqa: F401

BUNDLED = Path(django_settings.BASE_DIR) / "processing" / "weights" / "default-detector.pt"
SIZE = 256  # the bundled model's training size


@pytest.fixture(scope="module")
def onnx_export(tmp_path_factory) -> Path:
    """A static ONNX export of the bundled model, made as a user would with `yolo export format=onnx`."""
    folder = tmp_path_factory.mktemp("onnx")
    weights = folder / "demo.pt"
    shutil.copy(BUNDLED, weights)
    exported = yolo_load(weights).export(format="onnx", imgsz=SIZE, dynamic=False, simplify=False, device="cpu")
    return Path(exported)


def frames() -> list[np.ndarray]:
    scene = make_scene(seed=7, width=SIZE, height=SIZE, frame_count=3)
    return [render_frame(scene=scene, frame_index=index).image_rgb for index in range(3)]


def test_the_metadata_gives_class_names_and_input_size(onnx_export):
    metadata = onnx_metadata(onnx_export)
    assert set(metadata["class_names"].values()) == {"box", "disc", "triangle", "ring", "cross"}
    assert metadata["image_size"] == [SIZE, SIZE] and metadata["input_shape"] == [1, 3, SIZE, SIZE]


def test_an_onnx_file_finds_what_its_pytorch_weights_find(onnx_export):
    geometry = InputGeometry.for_source(width=SIZE, height=SIZE, image_size=SIZE)
    pytorch = Detector(DetectorConfig.from_settings(weights=str(BUNDLED), image_size=SIZE, backend="torch"))
    onnx = Detector(DetectorConfig.from_settings(weights=str(onnx_export), image_size=SIZE))
    assert onnx.backend == "onnx" and onnx.class_names == pytorch.class_names
    expected, found = pytorch.detect(frames(), geometry), onnx.detect(frames(), geometry)
    assert sum(len(frame.class_ids) for frame in expected) > 0
    for want, got in zip(expected, found, strict=True):
        assert list(got.class_ids) == list(want.class_ids)
        np.testing.assert_allclose(got.boxes_xyxy, want.boxes_xyxy, atol=2.0)


def test_a_file_that_is_not_onnx_is_refused(tmp_path):
    bogus = tmp_path / "weights.onnx"
    bogus.write_bytes(b"not a graph" * 50)
    with pytest.raises(WeightsRefused, match="not an ONNX model"):
        onnx_metadata(bogus)


@pytest.mark.django_db
def test_staff_register_onnx_weights_through_the_api(onnx_export):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {TokenFactory(user=UserFactory(is_staff=True)).key}")
    upload = SimpleUploadedFile("demo.onnx", onnx_export.read_bytes())
    response = client.post("/api/v1/models/", {"name": "demo-onnx", "weights": upload}, format="multipart")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["framework"] == Framework.ONNX and body["input_size"] == SIZE and len(body["class_names"]) == 5
    bogus = SimpleUploadedFile("bogus.onnx", b"not a graph" * 50)
    refused = client.post("/api/v1/models/", {"name": "bogus", "weights": bogus}, format="multipart")
    assert refused.status_code == 422 and "not an ONNX model" in refused.json()["error"]["message"]


@pytest.mark.django_db
def test_onnx_weights_install_from_a_url(onnx_export, settings):
    settings.URL_IMPORT_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    with AssetServer({"demo.onnx": onnx_export.read_bytes()}) as server:
        install = model_install_request(actor=None, source=server.base_url + "demo.onnx")
        install = model_install_run(install_id=install.pk)
    assert install.status == InstallStatus.INSTALLED
    model = install.detector_model
    assert model.framework == Framework.ONNX and model.weights.path.endswith(".onnx") and model.input_size == SIZE


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("track", [False, True])
def test_a_run_with_a_registered_onnx_model_completes_with_detections(onnx_export, tmp_path, track):
    from processing.models import ProcessingJob
    from processing.services.jobs import JobOptions
    from processing.services.registry import detector_model_register
    from tests.processing.running import settle
    from tests.videofiles import write_test_video
    from videos.services.creation import video_create

    detector_model_register(name="demo-onnx", version="1", weights_path=str(onnx_export), image_size=640)
    content = write_test_video(tmp_path / "clip.mp4", seconds=1, width=320, height=240).read_bytes()
    video = video_create(
        owner=UserFactory(),
        uploaded_file=SimpleUploadedFile("clip.mp4", content),
        job_options=JobOptions(model_name="demo-onnx", track=track),
        enqueue=False,
    )
    job = settle(ProcessingJob.objects.get(video=video).pk, timeout=120)
    assert job.status == "completed", job.last_error_message
    assert job.config["image_size"] == SIZE and job.processed_frames > 0
    assert job.detections_count > 0
