"""OpenVINO on the bundled weights, and the measured backend choice: refusals, persistence, rebuilt exports."""

from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from processing.backends import chooser, openvino_backend
from processing.detector import BackendPlan, Detector, DetectorConfig, InputGeometry, get_detector
from processing.models import InferenceBackendChoice, ProcessingJob
from tests.processing.running import settle
from tests.videofiles import write_test_video
from videos.services.creation import video_create

pytestmark = [
    pytest.mark.slow,  # exports and quantises real networks
    pytest.mark.skipif(not openvino_backend.available_precisions(), reason="OpenVINO cannot run here"),
]

BUNDLED = Path(__file__).resolve().parents[2] / "processing" / "weights" / "default-detector.pt"
SIZE = 256  # the bundled weights' training size
GEOMETRY = InputGeometry.for_source(width=320, height=240, image_size=SIZE)


@pytest.fixture(autouse=True)
def synthetic_calibration(settings):
    """int8 here is calibrated on rendered frames, as with an empty library (test_openvino_calibration.py covers
    the library's own videos); some of these tests have no database to look for videos in."""
    settings.OPENVINO_CALIBRATION_SOURCE = "synthetic"


@pytest.fixture
def export_cache(tmp_path, settings):
    """A cache of this test's own: what it builds, breaks or rebuilds is nobody else's."""
    settings.DETECTOR_ONNX_CACHE_DIR = str(tmp_path / "exports")
    return Path(settings.DETECTOR_ONNX_CACHE_DIR)


@pytest.fixture(scope="module")
def module_exports(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("exports")


@pytest.fixture
def shared_export_cache(module_exports, settings):
    """One cache for this module's tests that only read it: each export and quantisation is built once."""
    settings.DETECTOR_ONNX_CACHE_DIR = str(module_exports)
    return module_exports


# The platform's own operating point: the test settings' near-zero threshold keeps boxes no one would store.
CONFIDENCE, MAX_DETECTIONS = 0.4, 300


def detector(**overrides) -> Detector:
    return Detector(
        DetectorConfig.from_settings(
            weights=str(BUNDLED), image_size=SIZE, confidence=CONFIDENCE, max_detections=MAX_DETECTIONS, **overrides
        )
    )


def frames() -> list[np.ndarray]:
    return chooser.agreement_frames(width=GEOMETRY.scaled_width, height=GEOMETRY.scaled_height, count=8)


def broken_quantisation(model, *, frames):
    """Calibrated on frames 255 times too bright: every real input rounds to the bottom of the int8 range."""
    import nncf

    return nncf.quantize(
        model,
        nncf.Dataset(list(frames), lambda frame: np.ascontiguousarray(frame.transpose(0, 3, 1, 2), np.float32)),
        subset_size=len(frames),
    )


@pytest.mark.parametrize("precision", openvino_backend.available_precisions())
def test_openvino_finds_what_the_pytorch_network_finds(precision, shared_export_cache):
    reference = detector(backend="torch").detect(frames(), GEOMETRY)
    openvino = detector(backend="openvino", precision=precision)

    found = openvino.detect(frames(), GEOMETRY)

    recall, found_precision, reference_boxes = chooser.agreement(reference, found)
    assert reference_boxes >= 8, "the bundled weights find the synthetic objects"
    assert (openvino.backend, openvino.precision) == ("openvino", precision)
    assert recall >= chooser.AGREEMENT and found_precision >= chooser.AGREEMENT
    assert found[0].boxes_xyxy.dtype == np.float32
    assert (found[0].boxes_xyxy[:, [0, 2]] <= GEOMETRY.source_width).all()


def test_the_default_precision_follows_the_processor():
    capabilities = openvino_backend.cpu_capabilities()
    assert openvino_backend.default_precision() == ("bf16" if "BF16" in capabilities else "f32")


@pytest.mark.django_db
def test_the_chooser_refuses_a_quantisation_whose_detections_disagree(export_cache, monkeypatch):
    if "int8" not in openvino_backend.available_precisions():
        pytest.skip("no int8 on this CPU")
    monkeypatch.setattr(openvino_backend, "quantize_int8", broken_quantisation)
    auto = detector(backend="auto")

    plan = auto.plan_for(GEOMETRY)

    choice = InferenceBackendChoice.objects.get()
    trials = {(trial["backend"], trial["precision"]): trial for trial in choice.trials}
    int8 = trials[("openvino", "int8")]
    assert not int8["accepted"] and int8["reason"].startswith("refused by the int8 guard")
    assert choice.int8_calibration["agreement"] < choice.int8_calibration["min_agreement"]
    assert choice.int8_calibration["calibration"]["source"] == "synthetic"
    assert trials[("torch", "f32")]["accepted"] and trials[("openvino", "f32")]["accepted"]
    assert plan != BackendPlan("openvino", "int8")
    assert (choice.backend, choice.precision) == (plan.backend, plan.precision)
    assert trials[(plan.backend, plan.precision)]["accepted"]


@pytest.mark.django_db
def test_a_restarted_worker_keeps_the_measured_choice(shared_export_cache, monkeypatch):
    first = detector(backend="auto").plan_for(GEOMETRY)
    choice = InferenceBackendChoice.objects.get()
    assert (choice.input_height, choice.input_width) == (GEOMETRY.input_height, GEOMETRY.input_width)
    assert choice.host and len(choice.trials) == len(detector(backend="auto").candidates())

    def measure_again(*args, **kwargs):
        raise AssertionError("a remembered choice is not measured again")

    restarted = detector(backend="auto")  # a new process would load the model afresh like this
    monkeypatch.setattr(restarted, "measure_backends", measure_again)

    assert restarted.plan_for(GEOMETRY) == first
    assert restarted.detect(frames()[:2], GEOMETRY)  # and runs with it


@pytest.mark.django_db
def test_another_host_measures_for_itself(shared_export_cache, monkeypatch):
    detector(backend="auto").plan_for(GEOMETRY)
    monkeypatch.setattr("processing.services.backend_choice.this_host", lambda: "another-host")

    detector(backend="auto").plan_for(GEOMETRY)

    assert set(InferenceBackendChoice.objects.values_list("host", flat=True)) >= {"another-host"}
    assert InferenceBackendChoice.objects.count() == 2


def test_a_corrupt_int8_export_is_detected_and_rebuilt(export_cache):
    if "int8" not in openvino_backend.available_precisions():
        pytest.skip("no int8 on this CPU")
    expected = detector(backend="openvino", precision="int8").detect(frames(), GEOMETRY)
    (export,) = export_cache.glob("*-openvino-int8-*")
    weights_file = export / "model.bin"
    weights_file.write_bytes(weights_file.read_bytes()[: weights_file.stat().st_size // 2])

    found = detector(backend="openvino", precision="int8").detect(frames(), GEOMETRY)

    assert openvino_backend._verified_model_path(export) == export / "model.xml"
    recall, precision, _ = chooser.agreement(expected, found)
    assert recall == precision == 1.0
    assert not [path for path in export_cache.iterdir() if path.name.startswith(".")], "no staging folder is left"


def test_a_corrupt_onnx_export_is_detected_and_rebuilt(export_cache):
    expected = detector(backend="openvino", precision="f32").detect(frames(), GEOMETRY)
    (export,) = export_cache.glob("*.onnx")
    export.write_bytes(b"not an onnx graph")

    found = detector(backend="openvino", precision="f32").detect(frames(), GEOMETRY)

    assert export.stat().st_size > 1000
    recall, precision, _ = chooser.agreement(expected, found)
    assert recall == precision == 1.0


@pytest.mark.django_db(transaction=True)
def test_a_job_names_its_backend_and_precision(shared_export_cache, api_client, tmp_path, settings):
    settings.DETECTOR_WEIGHTS, settings.DETECTOR_IMAGE_SIZE = str(BUNDLED), SIZE
    settings.DETECTOR_CONFIDENCE, settings.DETECTOR_MAX_DETECTIONS = CONFIDENCE, MAX_DETECTIONS
    get_detector.cache_clear()  # this run measures, as a fresh worker's first run of the model does
    content = write_test_video(tmp_path / "clip.mp4", seconds=1, fps=8, width=320, height=240).read_bytes()
    video = video_create(
        owner=api_client.user, uploaded_file=SimpleUploadedFile("clip.mp4", content), frame_step=2, enqueue=False
    )

    job = settle(ProcessingJob.objects.get(video=video).pk)

    assert job.status == "completed"
    choice = InferenceBackendChoice.objects.get()
    assert (job.inference_backend, job.inference_precision) == (choice.backend, choice.precision)
    payload = api_client.get(f"/api/v1/jobs/{job.pk}/").json()
    assert (payload["backend"], payload["precision"]) == (choice.backend, choice.precision)
    assert payload["backend"] in {"torch", "onnx", "openvino"}


def test_jobs_running_side_by_side_split_the_cores(settings, monkeypatch):
    from types import SimpleNamespace

    from processing.detector import _share_the_cores_among_the_pool, cpu_inference_threads

    settings.DETECTOR_CPU_THREADS = 0  # the override holds what the worker's start-up sets, for this test only
    monkeypatch.delenv("DETECTOR_CONCURRENT_JOBS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 2)

    _share_the_cores_among_the_pool(sender=SimpleNamespace(concurrency=2))

    assert settings.DETECTOR_CONCURRENT_JOBS == 2
    assert cpu_inference_threads("openvino") == cpu_inference_threads("onnx") == cpu_inference_threads("torch") == 1
    settings.DETECTOR_CONCURRENT_JOBS = 1
    assert cpu_inference_threads("openvino") == 2 and cpu_inference_threads("torch") == 1
