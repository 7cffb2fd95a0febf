"""Our pipeline's CPU frames/s with each installed catalog model, and with the bundled demo model.

    python bench/models.py [--seconds 4] [--fps 25] [--backend onnx|torch] [--weights NAME=PATH ...] [--smoke]

The models are those registered under a catalog name (python manage.py install_model yolo11n, ...) in the
configured database, read before the benchmark switches to a throwaway database of its own; the demo model is
DETECTOR_WEIGHTS at DETECTOR_IMAGE_SIZE; `--weights NAME=PATH` adds any weights file, at 640 px. Each runs the
whole job as a worker does (bench/pipeline.py's `pipeline_fps`: probe, decode thread, batched inference, COPY of
every detection) on the generated 720p video, at its own input size, warmed up first. The catalog's `cpu_fps`
is the network alone; this is the pipeline.
Then OpenVINO int8 on the demo model, calibrated two ways (processing/backends/calibration.py): on frames of a
small library of completed videos (rendered scenes from a seed training never used, 16:9, H.264, stored as
uploads are), and on the synthetic frames rendered at the input size. Each is scored against OpenVINO f32 on
frames of a library video that neither calibration saw (box F1, same class, IoU >= 0.5) and timed network-only
on one batch, with f32 as the same-run baseline (speed-up = int8 frames/s over f32's). `--no-int8` skips it;
`--smoke` runs it without NNCF (the network stays f32: quantising alone would triple the smoke run's time).
The last line is `models=NAME,... fps=FPS,...`, in the same order, then `int8_library_f1= int8_synthetic_f1=
int8_library_speedup= int8_synthetic_speedup=` ("n/a" where this CPU offers no int8).
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchdb import SMOKE_HELP, django_setup, last_line, throwaway_database  # noqa: E402
from pipeline import pipeline_fps  # noqa: E402


def installed_catalog_models() -> list[tuple[str, str, int]]:
    """(name, weights path, input size) of every catalog model registered in the configured database."""
    from django.db import DatabaseError

    from processing.catalog import CATALOG
    from processing.models import DetectorModel

    try:
        models = list(DetectorModel.objects.filter(name__in=CATALOG).order_by("name", "-created_at"))
    except DatabaseError as exc:
        print(f"installed models not read ({type(exc).__name__}): only the demo model is measured")
        return []
    seen, found = set(), []
    for model in models:
        if model.name not in seen and Path(model.weights.path).is_file():
            seen.add(model.name)
            found.append((model.name, model.weights.path, model.input_size))
    return found


def library_of_completed_videos(*, folder: Path, count: int, frame_count: int, width: int, height: int) -> list:
    """Rendered scenes stored through the upload service, probed and marked completed, oldest first."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from processing.probe import probe_video
    from processing.synthetic import write_synthetic_video
    from tests.factories import UserFactory
    from videos.media_store import local_copy
    from videos.models import Video
    from videos.services.creation import video_create

    owner, videos = UserFactory(), []
    for index in range(count):
        path = folder / f"library-{index}.mp4"
        write_synthetic_video(path=path, seed=31337, index=index, frame_count=frame_count, width=width, height=height)
        video = video_create(owner=owner, uploaded_file=SimpleUploadedFile(path.name, path.read_bytes()), enqueue=False)
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
        videos.append(Video.objects.get(pk=video.pk))
    return videos


def network_fps(runner, batch, *, repeats: int) -> float:
    runner.run(batch)  # warm-up: first-run allocations and kernel selection
    started = time.perf_counter()
    for _ in range(repeats):
        runner.run(batch)
    return repeats * len(batch) / (time.perf_counter() - started)


def int8_calibration_figures(*, scratch: Path, weights: str, image_size: int, smoke: bool) -> dict[str, str]:
    """int8 calibrated on the library and on synthetic frames: box F1 against f32 on unseen library frames and
    network frames/s against f32's."""
    from django.test import override_settings

    from processing.backends import calibration, openvino_backend
    from processing.backends.chooser import matched_boxes
    from processing.detector import Detector, DetectorConfig, InputGeometry, export_onnx

    if "int8" not in openvino_backend.available_precisions():
        print("int8: not offered on this CPU (OpenVINO or NNCF missing, or no INT8 capability)")
        return dict.fromkeys(
            ["int8_library_f1", "int8_synthetic_f1", "int8_library_speedup", "int8_synthetic_speedup"], "n/a"
        )
    width, height = (128, 72) if smoke else (640, 360)
    frames_each, calibration_frames = (8, 3) if smoke else (60, 24)
    cache = scratch / "exports"
    with override_settings(
        DETECTOR_ONNX_CACHE_DIR=str(cache),
        OPENVINO_CALIBRATION_FRAMES=calibration_frames,
        OPENVINO_CALIBRATION_VIDEOS=2 if smoke else 4,
        OPENVINO_CALIBRATION_MIN_VIDEOS=2 if smoke else 4,
    ):
        # One video more than the calibration takes: its frames score both calibrations.
        videos = library_of_completed_videos(
            folder=scratch, count=3 if smoke else 5, frame_count=frames_each, width=width, height=height
        )
        geometry = InputGeometry.for_source(width=width, height=height, image_size=image_size)
        shape = {"input_height": geometry.input_height, "input_width": geometry.input_width}
        library = calibration.calibration_set(**shape, source="library")
        synthetic = calibration.calibration_set(**shape, source="synthetic")
        unseen = videos[-1]
        assert library.source == "library" and str(unseen.pk) not in [video.video_id for video in library.videos]
        from videos.media_store import local_copy

        with local_copy(unseen.file.name) as path:
            scored = calibration._decode_at(
                str(path), times=calibration.positions(duration_seconds=unseen.duration_seconds, count=8), **shape
            )
        detector = Detector(DetectorConfig.from_settings(weights=weights, image_size=image_size, backend="onnx"))
        onnx = export_onnx(detector, **shape)
        build = {"onnx_path": lambda: onnx, "threads": os.cpu_count() or 1, "cache_dir": cache, "identity": "bench"}
        if smoke:
            build["quantize"] = lambda model, *, frames: model
        f32 = openvino_backend.build_runner(precision="f32", **build, **shape)
        int8 = {
            name: openvino_backend.build_runner(
                precision="int8", calibration=chosen, min_agreement=0.0, **build, **shape
            )
            for name, chosen in (("library", library), ("synthetic", synthetic))
        }
        batch = np.concatenate(scored)
        reference = openvino_backend.guard_detections(f32.run(batch))
        reference_boxes = sum(len(found.class_ids) for found in reference)
        repeats = 3 if smoke else 20
        baseline_fps = network_fps(f32, batch, repeats=repeats)
        print(
            f"int8 calibration: {geometry.input_width}x{geometry.input_height} input, {len(scored)} frames of an "
            f"unseen library video, f32 finds {reference_boxes} boxes; f32 network {baseline_fps:.1f} frames/s"
        )
        figures = {}
        for name, runner in int8.items():
            found = openvino_backend.guard_detections(runner.run(batch))
            found_boxes = sum(len(frame.class_ids) for frame in found)
            matches = sum(matched_boxes(ours, theirs) for ours, theirs in zip(reference, found, strict=True))
            f1 = 2 * matches / (reference_boxes + found_boxes) if reference_boxes + found_boxes else 1.0
            fps = network_fps(runner, batch, repeats=repeats)
            print(
                f"  int8 calibrated on {name} ({runner.calibration['calibration']['key']}): box F1 vs f32 {f1:.3f}, "
                f"held-out guard figure {runner.calibration['agreement']:.3f}, {fps:.1f} frames/s "
                f"({fps / baseline_fps:.2f}x f32)"
            )
            figures[f"int8_{name}_f1"] = f"{f1:.3f}"
            figures[f"int8_{name}_speedup"] = f"{fps / baseline_fps:.2f}"
    return {
        key: figures[key]
        for key in ("int8_library_f1", "int8_synthetic_f1", "int8_library_speedup", "int8_synthetic_speedup")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--confidence", type=float, default=0.25)
    parser.add_argument("--backend", choices=["torch", "onnx"], default="onnx")
    parser.add_argument("--weights", action="append", default=[], metavar="NAME=PATH", help="also measure these")
    parser.add_argument("--no-int8", action="store_true", help="skip int8 calibrated on the library vs synthetic")
    parser.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.fps, args.width, args.height = 0.5, 8, 160, 96
        args.backend = "torch"  # an ONNX export alone takes longer than the whole smoke run should

    os.environ.setdefault("DETECTOR_DEVICE", "cpu")
    django_setup()
    from django.conf import settings

    from tests.videofiles import write_test_video

    candidates = [] if args.smoke else installed_catalog_models()
    candidates += [(name, path, 640) for name, _, path in (spec.partition("=") for spec in args.weights)]
    if not candidates:
        print("no catalog model installed: python manage.py install_model yolo11n")
    demo_size = 64 if args.smoke else settings.DETECTOR_IMAGE_SIZE
    candidates.append(("demo", settings.DETECTOR_WEIGHTS, demo_size))
    names, figures = [], []
    with tempfile.TemporaryDirectory() as scratch, throwaway_database():
        video = write_test_video(
            Path(scratch) / "bench-720p.mp4", seconds=args.seconds, fps=args.fps, width=args.width, height=args.height
        )
        print(f"video: {args.width}x{args.height}, {int(args.seconds * args.fps)} frames; cpu cores {os.cpu_count()}")
        from processing.models import DetectorModel

        for name, weights, image_size in candidates:
            # Each model's runs register its weights as the default afresh (pipeline_fps goes by DETECTOR_WEIGHTS).
            DetectorModel.objects.update(is_default=False)
            fps, detections = pipeline_fps(
                video=video,
                weights=weights,
                image_size=64 if args.smoke else image_size,
                confidence=args.confidence,
                frame_step=1,
                backend=args.backend,
            )
            print(f"{name} ({args.backend}, {image_size} px): {fps:.2f} frames/s, {detections} detections")
            names.append(name)
            figures.append(f"{fps:.2f}")
        int8 = (
            {}
            if args.no_int8
            else int8_calibration_figures(
                scratch=Path(scratch), weights=settings.DETECTOR_WEIGHTS, image_size=demo_size, smoke=args.smoke
            )
        )
    print(last_line(models=",".join(names), fps=",".join(figures), **int8))


if __name__ == "__main__":
    main()
