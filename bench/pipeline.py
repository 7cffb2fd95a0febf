"""Our pipeline's frames/s for every backend and precision, against each one's model-only speed and ultralytics.

    python bench/pipeline.py [--seconds 6] [--fps 25] [--image-size 640] [--frame-step 1]
                             [--backend all|auto|torch|onnx|openvino] [--smoke]

Every side uses the same weights file, image size, confidence and frame step, and is warmed up first.
Baselines: ultralytics' own streaming predictor, `YOLO(weights).predict(source=video, stream=True)` iterated
to the end, on the PyTorch weights and on their ONNX export. Our side is the whole job as a worker runs it
(`job_run`: probe, decode thread, batched inference, COPY of every detection, progress events) on a
throwaway database, once per backend and precision this CPU offers, and once with `auto` (which measures
and picks). Model-only is the network alone (input conversion included, NMS not) on batches of the same
decoded frames; pipeline/model-only says how much of the network's speed the whole job keeps.
The last line is `pipeline_fps=... baseline_fps=... ratio=... backend=... precision=... model_only_fps=...`
for the configured backend (the auto choice by default), then its pace (pipeline/model-only) and its
speed-up over the ONNX Runtime pipeline; baseline_fps is ultralytics' PyTorch predictor. Last, the chosen
backend's job runs once more making the browser rendition (H.264, poster, thumbnails): `rendition_fps` and
`rendition_overhead`, the wall time that adds (goal <= 0.30 at frame step 1).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchdb import REPOSITORY_ROOT, SMOKE_HELP, django_setup, last_line, throwaway_database  # noqa: E402


def weights_for_benchmark(workdir: Path) -> str:
    from django.conf import settings

    if settings.DETECTOR_WEIGHTS and Path(settings.DETECTOR_WEIGHTS).is_file():
        return settings.DETECTOR_WEIGHTS
    import torch

    from processing.weights_loading import yolo_load

    torch.manual_seed(0)
    path = workdir / "yolov8n-seeded.pt"
    yolo_load("yolov8n.yaml", task="detect").save(str(path))
    return str(path)


def baseline_fps(*, video: Path, weights: str, image_size: int, confidence: float, frame_step: int) -> float:
    """ultralytics' own streaming predictor on `weights` (PyTorch weights, or an ONNX file through ONNX Runtime)."""
    from processing.weights_loading import yolo_load

    model = yolo_load(weights, task="detect")

    def stream():
        return model.predict(
            source=str(video),
            stream=True,
            imgsz=image_size,
            conf=confidence,
            verbose=False,
            vid_stride=frame_step,
            device="cpu",
        )

    next(iter(stream()))  # warm-up
    started = time.perf_counter()
    frames = sum(1 for _ in stream())
    return frames / (time.perf_counter() - started)


def onnx_export_for_ultralytics(*, weights: str, image_size: int) -> str:
    """The platform's cached ONNX export at ultralytics' square predictor input (dynamic axes, so any shape runs)."""
    from processing.detector import DetectorConfig, export_onnx, get_detector

    detector = get_detector(DetectorConfig.from_settings(weights=weights, image_size=image_size, backend="onnx"))
    return str(export_onnx(detector, input_height=image_size, input_width=image_size))


def pipeline_fps(**run) -> tuple[float, int]:
    """Whole-job frames/s and detections stored (bench/models.py measures every installed model with this)."""
    fps, detections, _, _ = pipeline_figures(**run)
    return fps, detections


def pipeline_figures(
    *,
    video: Path,
    weights: str,
    image_size: int,
    confidence: float,
    frame_step: int,
    backend: str,
    precision: str = "",
    rendition: bool = False,
) -> tuple[float, int, str, str]:
    """Whole-job frames/s (median of the runs after a warm-up run), detections stored, and the plan that ran.

    With `rendition`, the worker also makes the H.264 rendition, poster and thumbnails (forced, as browsers play
    this MP4 as it is); without, it makes no playback files at all."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import override_settings

    from processing.detector import DetectorConfig, get_detector
    from processing.models import ProcessingJob
    from processing.services.jobs import JobOptions
    from processing.services.pipeline import job_run
    from tests.factories import UserFactory
    from videos.services.creation import video_create

    with override_settings(
        DETECTOR_WEIGHTS=weights,
        DETECTOR_IMAGE_SIZE=image_size,
        DETECTOR_CONFIDENCE=confidence,
        DETECTOR_BACKEND=backend,
        DETECTOR_PRECISION=precision,
        REUSE_IDENTICAL_UPLOADS=False,
        RENDITIONS_ENABLED=rendition,
        RENDITION_ALWAYS=rendition,
    ):
        content = video.read_bytes()
        runs = []
        for attempt in range(2):  # the first run warms the model (exports, quantises, measures under auto)
            created = video_create(
                owner=UserFactory(),
                uploaded_file=SimpleUploadedFile(video.name, content),
                job_options=JobOptions(frame_step=frame_step),
                enqueue=False,
            )
            job = ProcessingJob.objects.get(video=created)
            get_detector(DetectorConfig.from_settings())
            started = time.perf_counter()
            job_run(job_id=job.pk)
            elapsed = time.perf_counter() - started
            job.refresh_from_db()
            if job.status != "completed":
                raise SystemExit(f"the pipeline run ended {job.status}: {job.last_error_message}")
            if attempt:
                runs.append(job.processed_frames / elapsed)
        return statistics.median(runs), job.detections_count, job.inference_backend, job.inference_precision


def decoded_batch(*, video: Path, image_size: int, batch_size: int):
    """The first frames of the video as the decoder hands them to the model, padded into one batch."""
    from processing.detector import InputGeometry
    from processing.frames import FrameSampling, iter_sampled_frames
    from processing.probe import probe_video

    probe = probe_video(str(video))
    geometry = InputGeometry.for_source(width=probe.width, height=probe.height, image_size=image_size)
    sampling = FrameSampling.for_run(frame_count=probe.frame_count, fps=probe.fps)
    frames = iter_sampled_frames(
        str(video), sampling=sampling, width=geometry.scaled_width, height=geometry.scaled_height
    )
    images = [frame.image for _, frame in zip(range(batch_size), frames, strict=False)]
    return images, geometry


def model_only_fps(
    *, video: Path, weights: str, image_size: int, confidence: float, backend: str, precision: str, seconds: float
) -> float:
    """The network alone (input conversion included) on full batches of decoded frames, for `seconds`."""
    from processing.detector import BackendPlan, DetectorConfig, default_batch_size, get_detector

    detector = get_detector(
        DetectorConfig.from_settings(weights=weights, image_size=image_size, confidence=confidence, backend=backend)
    )
    batch_size = default_batch_size(detector.device)
    images, geometry = decoded_batch(video=video, image_size=image_size, batch_size=batch_size)
    batch = detector._pad_batch(images, geometry)
    plan = BackendPlan(backend, precision)
    detector._forward(plan, batch, geometry)  # warm-up
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        detector._forward(plan, batch, geometry)
        done += len(batch)
    return done / (time.perf_counter() - started)


def plans_to_measure(requested: str) -> list[tuple[str, str]]:
    """(backend, precision) pairs this CPU offers, as the bench was asked for them."""
    from processing.backends import openvino_backend

    plans = [("torch", "f32"), ("onnx", "f32")]
    plans += [("openvino", precision) for precision in openvino_backend.available_precisions()]
    if requested in ("all", "auto"):
        return plans
    return [plan for plan in plans if plan[0] == requested]


def measure_every_plan(*, common: dict, plans: list[tuple[str, str]], model_seconds: float) -> dict:
    """{(backend, precision): (pipeline fps, model-only fps)}, printed as they come."""
    results = {}
    for backend, precision in plans:
        fps, detections, _, _ = pipeline_figures(**common, backend=backend, precision=precision)
        model_fps = model_only_fps(
            video=common["video"],
            weights=common["weights"],
            image_size=common["image_size"],
            confidence=common["confidence"],
            backend=backend,
            precision=precision,
            seconds=model_seconds,
        )
        results[(backend, precision)] = (fps, model_fps)
        print(
            f"pipeline ({backend}/{precision}): {fps:.2f} frames/s, {detections} detections stored; "
            f"model only {model_fps:.2f} frames/s; pipeline/model-only {fps / model_fps:.2f}"
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--image-size", type=int, default=640)
    parser.add_argument("--frame-step", type=int, default=1)
    parser.add_argument("--confidence", type=float, default=0.25)
    parser.add_argument("--model-seconds", type=float, default=4, help="how long each model-only figure runs")
    parser.add_argument("--backend", choices=["all", "auto", "torch", "onnx", "openvino"], default="all")
    parser.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.fps, args.width, args.height, args.image_size = 0.5, 8, 160, 96, 64
        args.model_seconds = 0.2
        args.backend = "torch"  # an ONNX export alone takes longer than the whole smoke run should

    os.environ.setdefault("DETECTOR_DEVICE", "cpu")
    django_setup()

    from django.conf import settings

    from tests.videofiles import write_test_video

    with tempfile.TemporaryDirectory() as scratch, throwaway_database():
        workdir = Path(scratch)
        video = write_test_video(
            workdir / "bench-720p.mp4", seconds=args.seconds, fps=args.fps, width=args.width, height=args.height
        )
        weights = weights_for_benchmark(workdir)
        print(
            f"video: {args.width}x{args.height}, {int(args.seconds * args.fps)} frames; weights {weights}; "
            f"image size {args.image_size}; frame step {args.frame_step}; cpu cores {os.cpu_count()}"
        )
        common = {
            "video": video,
            "weights": weights,
            "image_size": args.image_size,
            "confidence": args.confidence,
            "frame_step": args.frame_step,
        }
        baseline = baseline_fps(**common)
        print(f"baseline ultralytics predict(stream=True), PyTorch: {baseline:.2f} frames/s")
        if not args.smoke:
            onnx_file = onnx_export_for_ultralytics(weights=weights, image_size=args.image_size)
            onnx_baseline = baseline_fps(**{**common, "weights": onnx_file})
            print(f"baseline ultralytics predict(stream=True), ONNX Runtime: {onnx_baseline:.2f} frames/s")
        results = measure_every_plan(
            common=common, plans=plans_to_measure(args.backend), model_seconds=args.model_seconds
        )
        if args.backend in ("all", "auto"):
            fps, detections, backend, precision = pipeline_figures(**common, backend="auto")
            chosen = (backend, precision)
            print(f"pipeline (auto, chose {backend}/{precision}): {fps:.2f} frames/s, {detections} detections stored")
        else:
            chosen = max(results, key=lambda plan: results[plan][0])
            fps = results[chosen][0]
        # The chosen backend's job again making the browser rendition: its cost in wall time at this frame step.
        with_rendition, _, _, _ = pipeline_figures(**common, backend=chosen[0], precision=chosen[1], rendition=True)
        overhead = fps / with_rendition - 1
        print(
            f"pipeline ({chosen[0]}/{chosen[1]}) with the rendition (libx264 preset {settings.RENDITION_PRESET}, "
            f"crf {settings.RENDITION_CRF}): {with_rendition:.2f} frames/s against {fps:.2f} without; "
            f"wall time +{overhead * 100:.1f}%"
        )
    model_fps = results[chosen][1]
    onnx_pipeline = results.get(("onnx", "f32"), (None,))[0]
    print(f"configured backend: {chosen[0]}/{chosen[1]} (repository root {REPOSITORY_ROOT.name})")
    figures = {
        "pipeline_fps": fps,
        "baseline_fps": baseline,
        "ratio": fps / baseline,
        "backend": chosen[0],
        "precision": chosen[1],
        "model_only_fps": model_fps,
        "pace": fps / model_fps,
    }
    if onnx_pipeline:
        figures["vs_onnx_pipeline"] = fps / onnx_pipeline
    figures["rendition_fps"] = with_rendition
    figures["rendition_overhead"] = overhead
    print(last_line(**figures))


if __name__ == "__main__":
    main()
