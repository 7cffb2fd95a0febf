"""Our pipeline's frames/s against ultralytics' own streaming predictor, on the same video, model and settings.

    python bench/pipeline.py [--seconds 6] [--fps 25] [--image-size 640] [--frame-step 1] [--backend torch|onnx|both]
                             [--smoke]

Both sides use the same weights file, image size, confidence and frame step, and are warmed up first.
The baseline is `YOLO(weights).predict(source=video, stream=True)`, iterated to the end. Our side is the
whole job as a worker runs it (`job_run`: probe, decode thread, batched inference, COPY of every
detection, progress events) on a throwaway database. The last line is
`pipeline_fps=... baseline_fps=... ratio=... backend=... rendition_fps=... rendition_overhead=...` for the
configured backend: the same job run once more making the browser rendition (H.264, poster, thumbnails), and the
wall time that adds (goal <= 0.30 at frame step 1).
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


def pipeline_fps(
    *,
    video: Path,
    weights: str,
    image_size: int,
    confidence: float,
    frame_step: int,
    backend: str,
    rendition: bool = False,
) -> tuple[float, int]:
    """The job's frames/s; with `rendition`, the worker also makes the H.264 rendition, poster and thumbnails
    (forced, as browsers play this MP4 as it is); without, it makes no playback files at all."""
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
        REUSE_IDENTICAL_UPLOADS=False,
        RENDITIONS_ENABLED=rendition,
        RENDITION_ALWAYS=rendition,
    ):
        content = video.read_bytes()
        runs = []
        for attempt in range(2):  # the first run warms the model (and exports ONNX once)
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
        return statistics.median(runs), job.detections_count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--image-size", type=int, default=640)
    parser.add_argument("--frame-step", type=int, default=1)
    parser.add_argument("--confidence", type=float, default=0.25)
    parser.add_argument("--backend", choices=["torch", "onnx", "both"], default="both")
    parser.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.fps, args.width, args.height, args.image_size = 0.5, 8, 160, 96, 64
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
        print(f"baseline ultralytics predict(stream=True): {baseline:.2f} frames/s")
        backends = ["torch", "onnx"] if args.backend == "both" else [args.backend]
        results = {}
        for backend in backends:
            fps, detections = pipeline_fps(**common, backend=backend)
            results[backend] = fps
            print(
                f"pipeline ({backend}): {fps:.2f} frames/s, {detections} detections stored, ratio {fps / baseline:.2f}"
            )
        configured = "onnx" if settings.DETECTOR_BACKEND == "auto" else settings.DETECTOR_BACKEND
        chosen = configured if configured in results else max(results, key=results.get)
        # The same job again making the browser rendition: its cost in wall time at this frame step.
        with_rendition, _ = pipeline_fps(**common, backend=chosen, rendition=True)
        overhead = results[chosen] / with_rendition - 1
        print(
            f"pipeline ({chosen}) with the rendition (libx264 preset {settings.RENDITION_PRESET}, crf "
            f"{settings.RENDITION_CRF}): {with_rendition:.2f} frames/s against {results[chosen]:.2f} without; "
            f"wall time +{overhead * 100:.1f}%"
        )
    print(f"configured backend: {chosen} (repository root {REPOSITORY_ROOT.name})")
    print(
        last_line(
            pipeline_fps=results[chosen],
            baseline_fps=baseline,
            ratio=results[chosen] / baseline,
            backend=chosen,
            rendition_fps=with_rendition,
            rendition_overhead=overhead,
        )
    )


if __name__ == "__main__":
    main()
