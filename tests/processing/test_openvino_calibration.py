"""int8 calibration on the library's own videos: which frames, the cache key they give, and the accuracy guard."""

import logging
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from processing.backends import calibration, chooser, openvino_backend
from processing.detector import BackendPlan, Detector, DetectorConfig, InputGeometry, export_onnx
from processing.frames import FrameSampling, iter_sampled_frames
from processing.models import InferenceBackendChoice
from processing.probe import probe_video
from tests.factories import UserFactory
from tests.videofiles import write_test_video
from videos.media_store import delete, local_copy
from videos.models import Video
from videos.services.creation import video_create

BUNDLED = Path(__file__).resolve().parents[2] / "processing" / "weights" / "default-detector.pt"
SIZE = 256
GEOMETRY = InputGeometry.for_source(width=320, height=240, image_size=SIZE)  # a 256x192 input
SHAPE = {"input_height": GEOMETRY.input_height, "input_width": GEOMETRY.input_width}

int8_here = pytest.mark.skipif(
    "int8" not in openvino_backend.available_precisions(), reason="no OpenVINO int8 on this CPU"
)


@pytest.fixture(autouse=True)
def calibration_settings(settings, tmp_path):
    settings.OPENVINO_CALIBRATION_SOURCE = "library"
    settings.OPENVINO_CALIBRATION_FRAMES = 6  # 8 drawn, 2 of them held out
    settings.OPENVINO_CALIBRATION_VIDEOS = 4
    settings.OPENVINO_CALIBRATION_MIN_VIDEOS = 2
    settings.OPENVINO_CALIBRATION_GROWTH = 2.0
    settings.OPENVINO_INT8_MIN_AGREEMENT = 0.9
    settings.DETECTOR_ONNX_CACHE_DIR = str(tmp_path / "exports")


def completed_video(tmp_path, *, name: str, codec: str = "libx264", width=320, height=240, variant=0) -> Video:
    """A video stored through the upload service, its metadata probed from the file, marked completed."""
    path = write_test_video(
        tmp_path / name, seconds=2, fps=10, width=width, height=height, codec=codec, variant=variant
    )
    video = video_create(owner=UserFactory(), uploaded_file=SimpleUploadedFile(name, path.read_bytes()), enqueue=False)
    with local_copy(video.file.name) as stored:
        probe = probe_video(str(stored))
    Video.objects.filter(pk=video.pk).update(
        workflow_state="completed",
        duration_seconds=probe.duration_seconds,
        frame_count=probe.frame_count,
        fps=probe.fps,
        width=probe.width,
        height=probe.height,
        codec=probe.codec,
    )
    return Video.objects.get(pk=video.pk)


def detector(**overrides) -> Detector:
    return Detector(
        DetectorConfig.from_settings(
            weights=str(BUNDLED), image_size=SIZE, confidence=0.4, max_detections=300, **overrides
        )
    )


def broken_quantisation(model, *, frames):
    """Calibrated on frames 255 times too bright: every real input rounds to the bottom of the int8 range."""
    import nncf

    return nncf.quantize(
        model,
        nncf.Dataset(list(frames), lambda frame: np.ascontiguousarray(frame.transpose(0, 3, 1, 2), np.float32)),
        subset_size=len(frames),
    )


def unquantised(model, *, frames):
    """The f32 network as it is: agrees with itself, and costs no NNCF run."""
    return model


# -- which frames ---------------------------------------------------------------


@pytest.mark.django_db
def test_calibration_frames_come_from_the_librarys_videos_letterboxed_like_inference_input(tmp_path):
    h264 = completed_video(tmp_path, name="first.mp4")
    mpeg4 = completed_video(tmp_path, name="second.avi", codec="mpeg4", width=320, height=180, variant=3)
    assert (h264.codec, mpeg4.codec) == ("h264", "mpeg4")

    chosen = calibration.calibration_set(**SHAPE)
    calibrating, held_out = chosen.load()

    assert chosen.source == "library" and not chosen.fallback_reason
    assert [video.video_id for video in chosen.videos] == [str(h264.pk), str(mpeg4.pk)]
    assert chosen.frames_per_video == [4, 4]
    assert (len(calibrating), len(held_out)) == (6, 2)
    frames = calibrating + held_out
    assert all(frame.shape == (1, 192, 256, 3) and frame.dtype == np.uint8 for frame in frames)
    # Spread across each video's length: no two frames of a video alike (the shapes move every frame).
    first_video = [frame.tobytes() for frame in calibrating[:3]]
    assert len(set(first_video)) == 3
    # The 16:9 clip fits 256x144 and is padded below with the letterbox grey, as the detector pads.
    wide = calibrating[3]
    assert (wide[0, 144:] == calibration.PAD_VALUE).all() and not (wide[0, :144] == calibration.PAD_VALUE).all()

    # The first calibration frame is what the pipeline's decoder hands the network for that frame.
    time = calibration.positions(duration_seconds=h264.duration_seconds, count=4)[0]
    index = int(np.ceil(time * h264.fps - 1e-6))
    with local_copy(h264.file.name) as path:
        (decoded,) = iter_sampled_frames(
            str(path), sampling=FrameSampling(start=index, end=index, step=1), width=256, height=192
        )
    np.testing.assert_array_equal(calibrating[0][0], decoded.image)


@pytest.mark.django_db
def test_a_small_library_or_the_synthetic_setting_gives_synthetic_frames(tmp_path, settings):
    completed_video(tmp_path, name="only.mp4")

    too_few = calibration.calibration_set(**SHAPE)
    assert too_few.source == "synthetic" and "fewer than 2" in too_few.fallback_reason
    calibrating, held_out = too_few.load()
    assert (len(calibrating), len(held_out)) == (6, 2) and calibrating[0].shape == (1, 192, 256, 3)

    completed_video(tmp_path, name="second.mp4", variant=1)
    settings.OPENVINO_CALIBRATION_SOURCE = "synthetic"
    assert calibration.calibration_set(**SHAPE).source == "synthetic"
    settings.OPENVINO_CALIBRATION_SOURCE = "library"
    assert calibration.calibration_set(**SHAPE).source == "library"


@pytest.mark.django_db
def test_deleted_failed_and_too_short_videos_are_left_out(tmp_path, settings):
    settings.OPENVINO_CALIBRATION_FRAMES = 45  # 60 drawn: more than two 20-frame clips hold
    kept = [completed_video(tmp_path, name=f"{number}.mp4", variant=number) for number in range(2)]
    Video.objects.filter(pk=completed_video(tmp_path, name="deleted.mp4").pk).update(deleted_at="2026-01-01T00:00Z")
    Video.objects.filter(pk=completed_video(tmp_path, name="failed.mp4").pk).update(workflow_state="failed")

    chosen = calibration.calibration_set(**SHAPE)

    assert chosen.source == "synthetic" and "hold 40 frames" in chosen.fallback_reason
    settings.OPENVINO_CALIBRATION_FRAMES = 30  # 40 drawn
    assert [video.video_id for video in calibration.calibration_set(**SHAPE).videos] == [str(v.pk) for v in kept]


# -- the cache key ------------------------------------------------------------------


def test_library_tiers_grow_by_the_factor():
    tiers = [calibration.library_tier(library_videos=count, min_videos=2, growth=2.0) for count in range(0, 18)]
    assert tiers == [0, 0, 2, 2, 4, 4, 4, 4, 8, 8, 8, 8, 8, 8, 8, 8, 16, 16]
    assert calibration.spread_frames(frame_total=8, capacities=[20, 2, 20]) == [3, 2, 3]


@pytest.mark.django_db
def test_the_calibration_key_changes_with_the_set_and_not_with_every_upload(tmp_path):
    keys = [calibration.calibration_set(**SHAPE).key]  # an empty library: synthetic
    for number in range(5):
        completed_video(tmp_path, name=f"{number}.mp4", variant=number)
        keys.append(calibration.calibration_set(**SHAPE).key)

    synthetic, two, three, four, five = keys[0], keys[2], keys[3], keys[4], keys[5]
    assert keys[1] == synthetic and synthetic.startswith("synthetic-")
    assert two.startswith("library-") and two != synthetic
    assert three == two, "one more video below the next tier is no reason to quantise again"
    assert four != two, "the library doubled: calibrated again, on the four videos"
    assert five == four
    assert calibration.calibration_set(**SHAPE, calibration_frames=9).key != four, "more frames, another set"


# -- the int8 export and its guard ----------------------------------------------------


@int8_here
@pytest.mark.slow
@pytest.mark.django_db
def test_int8_is_rebuilt_once_real_footage_exists(tmp_path, settings):
    cache = Path(settings.DETECTOR_ONNX_CACHE_DIR)
    first = detector(backend="openvino", precision="int8")
    first.plan_for(GEOMETRY)
    (synthetic,) = cache.glob("*-openvino-int8-*")
    assert "-openvino-int8-synthetic-" in synthetic.name
    assert first._int8_calibration[(192, 256)]["calibration"]["source"] == "synthetic"

    videos = [completed_video(tmp_path, name=f"{number}.mp4", variant=number) for number in range(2)]
    second = detector(backend="openvino", precision="int8")
    assert second.plan_for(GEOMETRY) == BackendPlan("openvino", "int8")

    library = sorted(path.name for path in cache.glob("*-openvino-int8-library-*"))
    assert len(library) == 1, "a new export for the library's set"
    report = second._int8_calibration[(192, 256)]
    assert report["calibration"]["videos"] == [str(video.pk) for video in videos]
    assert report["accepted"] and report["agreement"] >= 0.9
    found = second.detect([frame[0] for frame in calibration.synthetic_frames(count=4, **SHAPE)], GEOMETRY)
    assert len(found) == 4

    completed_video(tmp_path, name="third.mp4", variant=2)
    detector(backend="openvino", precision="int8").plan_for(GEOMETRY)
    assert len(list(cache.glob("*-openvino-int8-*"))) == 2, "a third video is below the next tier: no rebuild"


@int8_here
@pytest.mark.slow
@pytest.mark.django_db
def test_the_guard_refuses_a_broken_quantisation_and_runs_the_default_precision(tmp_path, monkeypatch, caplog):
    for number in range(2):
        completed_video(tmp_path, name=f"{number}.mp4", variant=number)
    monkeypatch.setattr(openvino_backend, "quantize_int8", broken_quantisation)
    refused = detector(backend="openvino", precision="int8")

    with caplog.at_level(logging.WARNING, logger="processing"):
        plan = refused.plan_for(GEOMETRY)

    assert plan == BackendPlan("openvino", openvino_backend.default_precision())
    assert (refused.backend, refused.precision) == (plan.backend, plan.precision)
    report = refused._int8_calibration[(192, 256)]
    assert not report["accepted"] and report["agreement"] < 0.9
    assert "below OPENVINO_INT8_MIN_AGREEMENT" in report["reason"]
    assert report["calibration"]["source"] == "library"
    assert any("int8 refused" in record.getMessage() for record in caplog.records)
    assert refused.detect([frame[0] for frame in calibration.synthetic_frames(count=2, **SHAPE)], GEOMETRY)

    def quantise_again(model, *, frames):
        raise AssertionError("a refused quantisation is kept with its figures, not quantised again")

    monkeypatch.setattr(openvino_backend, "quantize_int8", quantise_again)
    assert detector(backend="openvino", precision="int8").plan_for(GEOMETRY) == plan


@int8_here
@pytest.mark.django_db
def test_the_threshold_applies_to_a_cached_export_and_unreadable_videos_fall_back(tmp_path, settings):
    videos = [completed_video(tmp_path, name=f"{number}.mp4", variant=number) for number in range(2)]
    onnx = export_onnx(detector(backend="onnx"), **SHAPE)  # the bundled weights' export
    build = {
        "onnx_path": lambda: onnx,
        "precision": "int8",
        "threads": 1,
        "cache_dir": Path(settings.DETECTOR_ONNX_CACHE_DIR),
        "identity": "bundled",
        "quantize": unquantised,
        **SHAPE,
    }
    runner = openvino_backend.build_runner(**build)
    assert runner.calibration["agreement"] == 1.0 and runner.calibration["calibration"]["source"] == "library"

    def never(model, *, frames):
        raise AssertionError("quantised again")

    with pytest.raises(openvino_backend.Int8Refused) as refused:
        openvino_backend.build_runner(**{**build, "quantize": never}, min_agreement=1.01)
    assert refused.value.report["agreement"] == 1.0 and "1.01" in refused.value.reason

    # A model already calibrated on the set needs none of its files; a new build does, and falls back.
    delete(videos[0].file.name)
    assert openvino_backend.build_runner(**build).calibration["calibration"]["source"] == "library"
    runner = openvino_backend.build_runner(**{**build, "cache_dir": tmp_path / "another-cache"})
    described = runner.calibration["calibration"]
    assert described["source"] == "synthetic" and str(videos[0].pk) in described["fallback_reason"]


@int8_here
@pytest.mark.slow
@pytest.mark.django_db
def test_the_chooser_records_what_int8_was_calibrated_on(tmp_path, monkeypatch):
    for number in range(2):
        completed_video(tmp_path, name=f"{number}.mp4", variant=number)
    monkeypatch.setattr(openvino_backend, "quantize_int8", broken_quantisation)

    plan = detector(backend="auto").plan_for(GEOMETRY)

    choice = InferenceBackendChoice.objects.get()
    int8 = next(trial for trial in choice.trials if (trial["backend"], trial["precision"]) == ("openvino", "int8"))
    assert not int8["accepted"] and int8["reason"].startswith("refused by the int8 guard")
    assert plan != BackendPlan("openvino", "int8")
    assert choice.int8_calibration["calibration"]["source"] == "library"
    assert not choice.int8_calibration["accepted"]
    assert chooser.fastest_accepted([chooser.Trial(**trial) for trial in choice.trials]) is not None


# -- where it is shown --------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_shows_what_int8_was_calibrated_on(admin_client):
    report = {
        "agreement": 0.62,
        "box_f1": 0.62,
        "box_recall": 0.7,
        "box_precision": 0.55,
        "score_correlation": 0.8,
        "held_out_frames": 8,
        "judged_on": "boxes and scores",
        "accepted": False,
        "reason": "int8 agrees with f32 at 0.620 on 8 held-out frames, below OPENVINO_INT8_MIN_AGREEMENT 0.9",
        "min_agreement": 0.9,
        "calibration": {
            "source": "library",
            "key": "library-0123456789ab",
            "frames": 32,
            "calibration_frames": 24,
            "held_out_frames": 8,
            "videos": ["a-video", "another-video"],
            "frames_per_video": [16, 16],
            "library_videos": 3,
            "tier": 2,
        },
    }
    choice = InferenceBackendChoice.objects.create(
        weights_sha256="f" * 64,
        model_name="default-detector.pt",
        input_height=192,
        input_width=256,
        host="worker-1",
        backend="openvino",
        precision="bf16",
        int8_calibration=report,
    )
    InferenceBackendChoice.objects.create(
        weights_sha256="e" * 64, model_name="other.pt", input_height=192, input_width=256, host="worker-1",
        backend="torch", precision="f32",
    )  # fmt: skip

    listing = admin_client.get("/admin/processing/inferencebackendchoice/").content.decode()
    detail = admin_client.get(f"/admin/processing/inferencebackendchoice/{choice.pk}/change/").content.decode()

    assert "library (2 videos), refused" in listing
    assert "int8 was not tried" not in detail
    for shown in ("library-0123456789ab", "a-video, another-video", "16, 16", "0.620", "refused: int8 agrees"):
        assert shown in detail
    other = InferenceBackendChoice.objects.get(model_name="other.pt")
    assert (
        "int8 was not tried"
        in admin_client.get(f"/admin/processing/inferencebackendchoice/{other.pk}/change/").content.decode()
    )
