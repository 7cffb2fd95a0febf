"""Weights files are unpickled by the restricted loader only: a file whose pickle runs code is refused unrun."""

import dataclasses
import os
import pathlib
import shlex
import shutil
from pathlib import Path

import pytest
import torch
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from audit.models import AuditLogEntry
from processing.detector import Detector, DetectorConfig, DetectorUnavailable, export_onnx
from processing.models import DetectorModel, ProcessingJob
from processing.synthetic.scenes import CLASS_NAMES
from processing.synthetic.training import TrainingRecipe, train_default_detector
from processing.weights_loading import (
    WeightsRefused,
    checkpoint_load,
    ultralytics_training_reloads_restricted,
    yolo_load,
)
from tests.factories import TokenFactory, UserFactory
from tests.videofiles import write_test_video
from videos.models import Video

pytestmark = pytest.mark.django_db

MODELS = "/api/v1/models/"
DEFAULT_WEIGHTS = Path(settings.BASE_DIR) / "processing" / "weights" / "default-detector.pt"


class ShellCommandOnUnpickle:
    """Unpickles as `os.system(command)`."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class TouchOnUnpickle:
    """Unpickles as `pathlib.Path.touch(path)`, through `getattr`, a global ultralytics' allow-list does name."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.PosixPath(str(self.path)),))


PAYLOADS = {
    "os.system": lambda marker: ShellCommandOnUnpickle(f"touch {shlex.quote(str(marker))}"),
    "pathlib touch": TouchOnUnpickle,
}
REFUSED_GLOBAL = {"os.system": "posix.system", "pathlib touch": "pathlib.Path"}


@pytest.fixture(params=sorted(PAYLOADS))
def payload(request, tmp_path):
    """A `.pt` checkpoint whose model, when unpickled, creates a marker file; the marker's path."""
    marker = tmp_path / "unpickled-code-ran"
    weights = tmp_path / "detector.pt"
    torch.save({"model": PAYLOADS[request.param](marker), "train_args": {}}, weights)
    assert not marker.exists()
    return weights, marker, REFUSED_GLOBAL[request.param]


@pytest.fixture(scope="module")
def untrained_weights(tmp_path_factory):
    """Weights as ultralytics saves them, from a network built from its architecture file."""
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("weights") / "tiny-detector.pt"
    yolo_load("yolov8n.yaml").save(str(path))
    return path


@pytest.fixture
def staff_client(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {TokenFactory(user=UserFactory(is_staff=True)).key}")
    return client


def test_staff_upload_of_weights_whose_pickle_runs_code_is_refused_unrun(staff_client, payload):
    weights, marker, refused_global = payload
    upload = SimpleUploadedFile("detector.pt", weights.read_bytes())
    stored = Path(settings.MEDIA_ROOT) / "models"
    stored_before = set(stored.rglob("*")) if stored.exists() else set()

    response = staff_client.post(
        MODELS, {"name": "crafted", "version": "1", "weights": upload, "input_size": 320}, format="multipart"
    )

    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_weights"
    assert "refers to code outside the model classes" in error["message"]
    assert refused_global in error["message"]
    assert "/tmp" not in error["message"], "the reason is about the file, not where the server kept it"
    assert not marker.exists()
    assert not DetectorModel.objects.exists()
    assert not AuditLogEntry.objects.filter(action="detector_model.create").exists()
    assert (set(stored.rglob("*")) if stored.exists() else set()) == stored_before, "no file was kept"


def test_a_worker_loading_such_weights_refuses_them_unrun(payload):
    weights, marker, refused_global = payload

    with pytest.raises(DetectorUnavailable, match=refused_global):
        Detector(DetectorConfig.from_settings(weights=str(weights), backend="torch"))

    assert not marker.exists()


def test_the_onnx_export_refuses_such_weights_unrun(payload, settings):
    weights, marker, _ = payload
    settings.DETECTOR_ONNX_CACHE_DIR = str(weights.parent / "onnx-cache")
    detector = Detector(DetectorConfig.from_settings(weights=str(DEFAULT_WEIGHTS), backend="onnx"))
    # The file on disk was swapped after the worker loaded the network: the export reads it again.
    detector.config = dataclasses.replace(detector.config, weights=str(weights))

    with pytest.raises(WeightsRefused):
        export_onnx(detector, input_height=64, input_width=64)

    assert not marker.exists()
    assert not list(Path(settings.DETECTOR_ONNX_CACHE_DIR).glob("*.onnx"))


def test_such_weights_are_refused_whatever_the_environment_says(payload, monkeypatch):
    import ultralytics.nn.tasks
    import ultralytics.utils

    weights, marker, _ = payload
    monkeypatch.setenv("ULTRALYTICS_SAFE_LOAD", "0")
    monkeypatch.setattr(ultralytics.nn.tasks, "SAFE_LOAD", False)
    monkeypatch.setattr(ultralytics.utils, "SAFE_LOAD", False)

    with pytest.raises(WeightsRefused):
        yolo_load(weights)
    with pytest.raises(WeightsRefused):
        checkpoint_load(weights)

    assert not marker.exists()


@pytest.mark.django_db(transaction=True)
def test_the_process_video_command_with_such_configured_weights_fails_the_run_unrun(payload, settings, tmp_path):
    weights, marker, _ = payload
    settings.DETECTOR_WEIGHTS = str(weights)
    video_path = write_test_video(tmp_path / "street.mp4", seconds=1, fps=5)

    with pytest.raises(CommandError, match="processing ended failed"):
        call_command("process_video", str(video_path))

    assert not marker.exists()
    assert not DetectorModel.objects.exists(), "the refused default is not registered"
    video = Video.objects.get(original_filename="street.mp4")
    assert video.workflow_state == "failed"
    assert ProcessingJob.objects.get(video=video).detections_count == 0


def test_ultralytics_rereading_a_training_checkpoint_refuses_such_weights_unrun(payload):
    from ultralytics.utils.torch_utils import strip_optimizer

    weights, marker, _ = payload

    with ultralytics_training_reloads_restricted():
        assert strip_optimizer(weights) == {}, "ultralytics skips a checkpoint it cannot read"

    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".pkl", ""])
def test_files_other_than_pytorch_weights_are_refused(tmp_path, suffix):
    path = tmp_path / f"detector{suffix}"
    shutil.copy(DEFAULT_WEIGHTS, path)

    with pytest.raises(WeightsRefused, match=r"Only PyTorch weights \(\.pt\)"):
        yolo_load(path)


def test_a_checkpoint_named_onnx_is_read_as_onnx_only_and_refused(tmp_path):
    path = tmp_path / "detector.onnx"
    shutil.copy(DEFAULT_WEIGHTS, path)

    with pytest.raises(WeightsRefused, match="not an ONNX model"):
        yolo_load(path)


def test_a_file_that_is_no_checkpoint_is_refused_with_a_readable_reason(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"not a checkpoint")

    with pytest.raises(WeightsRefused, match="not a PyTorch checkpoint"):
        yolo_load(path)


def test_the_bundled_default_weights_still_load():
    detector = Detector(DetectorConfig.from_settings(weights=str(DEFAULT_WEIGHTS), backend="torch"))

    assert list(detector.class_names.values()) == list(CLASS_NAMES)
    assert "model" in checkpoint_load(DEFAULT_WEIGHTS)


def test_weights_saved_by_ultralytics_still_load_and_register(staff_client, untrained_weights):
    assert len(yolo_load(untrained_weights).names) == 80
    upload = SimpleUploadedFile("tiny.pt", untrained_weights.read_bytes())

    response = staff_client.post(
        MODELS, {"name": "tiny", "version": "1", "weights": upload, "input_size": 320}, format="multipart"
    )

    assert response.status_code == 201, response.content
    assert len(response.json()["class_names"]) == 80


@pytest.fixture
def torch_process_state():
    """ultralytics' trainer changes process-wide torch settings; later tests in this process get them back."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic)


def test_training_reads_its_own_checkpoints_back_through_the_restricted_loader(tmp_path, torch_process_state):
    recipe = TrainingRecipe(
        seed=0,
        epochs=1,
        train_images=4,
        validation_images=2,
        image_size=64,
        architecture="yolov8n.yaml",
        batch_size=2,
        workers=0,
    )

    outcome = train_default_detector(
        recipe=recipe, work_dir=tmp_path / "work", output=tmp_path / "trained.pt", command_line="test"
    )

    checkpoint = checkpoint_load(outcome.weights)
    assert checkpoint["optimizer"] is None, "ultralytics stripped the optimizer after reading the checkpoint back"
    assert list(yolo_load(outcome.weights).names.values()) == list(CLASS_NAMES)
