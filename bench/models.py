"""Our pipeline's CPU frames/s with each installed catalog model, and with the bundled demo model.

    python bench/models.py [--seconds 4] [--fps 25] [--backend onnx|torch] [--weights NAME=PATH ...] [--smoke]

The models are those registered under a catalog name (python manage.py install_model yolo11n, ...) in the
configured database, read before the benchmark switches to a throwaway database of its own; the demo model is
DETECTOR_WEIGHTS at DETECTOR_IMAGE_SIZE; `--weights NAME=PATH` adds any weights file, at 640 px. Each runs the
whole job as a worker does (bench/pipeline.py's `pipeline_fps`: probe, decode thread, batched inference, COPY of
every detection) on the generated 720p video, at its own input size, warmed up first. The catalog's `cpu_fps`
is the network alone; this is the pipeline.
The last line is `models=NAME,... fps=FPS,...`, in the same order.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--confidence", type=float, default=0.25)
    parser.add_argument("--backend", choices=["torch", "onnx"], default="onnx")
    parser.add_argument("--weights", action="append", default=[], metavar="NAME=PATH", help="also measure these")
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
    print(last_line(models=",".join(names), fps=",".join(figures)))


if __name__ == "__main__":
    main()
