"""Accuracy of the default detector on held-out synthetic videos, measured by the platform's own evaluation.

Run from the repository root: `python bench/accuracy.py [--smoke]`. It renders videos from a seed the training never
used, encodes them with libx264, decodes them the way the pipeline does, runs `processing.detector.Detector`
over every frame, and scores the detections with `processing.evaluation.metrics`. For context it also runs
the untrained architecture (the floor) and ultralytics' own `model.val` on the same decoded frames (a
cross-check of the metric code: the ratio should be close to 1).

Every backend and precision this CPU offers (PyTorch f32, the reference; OpenVINO f32, bf16, int8) is scored
on the same frames: precision, recall and mAP@0.5 each, and mAP@0.5 in points against f32.

The last line reads `precision=... recall=... map50=... map50_95=...`, all from the detections kept at the
operating confidence, which is what the platform stores for a run, with the backend and precision `auto` chose
for this model on this host (`chosen=backend/precision`) and its mAP@0.5 in points below f32's.
"""

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY_ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediaplatform.settings")

from processing.synthetic.training import configure_offline_ultralytics  # noqa: E402

configure_offline_ultralytics(config_dir=REPOSITORY_ROOT / "var" / "ultralytics")

import django  # noqa: E402

django.setup()

import av  # noqa: E402
import cv2  # noqa: E402
from benchdb import SMOKE_HELP  # noqa: E402
from django.conf import settings  # noqa: E402

from processing.detector import Detector, DetectorConfig, InputGeometry  # noqa: E402
from processing.evaluation.metrics import EvaluationReport, TruthBox, evaluate_detections  # noqa: E402
from processing.evaluation.video_detections import detect_video  # noqa: E402
from processing.synthetic import CLASS_NAMES, SyntheticVideo, write_synthetic_video  # noqa: E402
from processing.weights_loading import yolo_load  # noqa: E402

DEFAULT_WEIGHTS = REPOSITORY_ROOT / "processing" / "weights" / "default-detector.pt"
HELD_OUT_SEED = 90210  # training uses seed 0 (train and validation splits); never this one
CURVE_CONFIDENCE = 0.001  # as ultralytics' and COCO's evaluations, to trace the whole precision-recall curve
FRAME_OFFSET = 1_000_000  # frames of video i are numbered i * FRAME_OFFSET + index, so videos never mix


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--seed", type=int, default=HELD_OUT_SEED)
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--confidence", type=float, default=settings.DETECTOR_CONFIDENCE)
    parser.add_argument("--architecture", default="yolov8n.yaml", help="the untrained baseline")
    parser.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    arguments = parser.parse_args()
    if arguments.smoke:
        arguments.videos, arguments.frames, arguments.image_size = 1, 4, 128
    return arguments


def detector_config(
    *, weights: str, architecture: str, image_size: int, confidence: float, **overrides
) -> DetectorConfig:
    """The platform's own configuration (backend, NMS, device) with this run's model and thresholds."""
    return DetectorConfig.from_settings(
        weights=weights, architecture=architecture, image_size=image_size, confidence=confidence, **overrides
    )


def detect_all(*, detector: Detector, videos: list[SyntheticVideo]) -> list:
    predictions = []
    for number, video in enumerate(videos):
        for box in detect_video(detector=detector, path=video.path):
            predictions.append(replace(box, frame_index=number * FRAME_OFFSET + box.frame_index))
    return predictions


def plans_on_this_cpu(*, smoke: bool) -> list[tuple[str, str]]:
    """PyTorch f32 (the reference) and every OpenVINO precision this CPU offers; smoke runs skip the exports."""
    from processing.backends import openvino_backend

    if smoke:
        return [("torch", "f32")]
    return [("torch", "f32")] + [("openvino", precision) for precision in openvino_backend.available_precisions()]


def auto_choice(*, arguments: argparse.Namespace, videos: list[SyntheticVideo]) -> tuple[str, str]:
    """What `DETECTOR_BACKEND=auto` picks for these weights at the videos' shape, judged at the operating confidence."""
    if arguments.smoke:
        return "torch", "f32"
    chooser = Detector(
        detector_config(
            weights=str(arguments.weights),
            architecture=arguments.architecture,
            image_size=arguments.image_size,
            confidence=arguments.confidence,
            backend="auto",
        )
    )
    geometry = InputGeometry.for_source(width=videos[0].width, height=videos[0].height, image_size=arguments.image_size)
    plan = chooser.plan_for(geometry)
    return plan.backend, plan.precision


def score_plans(
    *, arguments: argparse.Namespace, videos: list[SyntheticVideo], ground_truth: list, class_ids: list[int]
) -> dict[tuple[str, str], tuple[EvaluationReport, EvaluationReport, float]]:
    """{(backend, precision): (report at the operating confidence, whole-curve report, detection seconds)}."""
    scores = {}
    for backend, precision in plans_on_this_cpu(smoke=arguments.smoke):
        detector = Detector(
            detector_config(
                weights=str(arguments.weights),
                architecture=arguments.architecture,
                image_size=arguments.image_size,
                confidence=CURVE_CONFIDENCE,
                backend=backend,
                precision=precision,
            )
        )
        started = time.monotonic()
        predictions = detect_all(detector=detector, videos=videos)
        seconds = time.monotonic() - started
        kept = [p for p in predictions if p.confidence >= arguments.confidence]
        scores[(backend, precision)] = (
            evaluate_detections(predictions=kept, ground_truth=ground_truth, class_ids=class_ids),
            evaluate_detections(predictions=predictions, ground_truth=ground_truth, class_ids=class_ids),
            seconds,
        )
    return scores


def print_plan_scores(scores: dict) -> None:
    reference_map50 = scores[("torch", "f32")][1].map50
    for (backend, precision), (operating, curve, seconds) in scores.items():
        print(
            f"{backend}/{precision}: P={operating.precision:.4f} R={operating.recall:.4f} map50={curve.map50:.4f} "
            f"({(curve.map50 - reference_map50) * 100:+.2f} points vs f32) map50_95={curve.map50_95:.4f}; "
            f"detection {seconds:.1f} s"
        )


def all_ground_truth(videos: list[SyntheticVideo]) -> list[TruthBox]:
    return [
        TruthBox(
            frame_index=number * FRAME_OFFSET + box.frame_index,
            class_id=box.class_id,
            x1=box.x1,
            y1=box.y1,
            x2=box.x2,
            y2=box.y2,
        )
        for number, video in enumerate(videos)
        for box in video.ground_truth
    ]


def ultralytics_val_map(*, weights: Path, videos: list[SyntheticVideo], image_size: int, work_dir: Path) -> tuple:
    """ultralytics' own mAP@0.5 and mAP@0.5:0.95 on the same decoded frames and boxes."""

    images_dir, labels_dir = work_dir / "images" / "val", work_dir / "labels" / "val"
    images_dir.mkdir(parents=True)
    labels_dir.mkdir(parents=True)
    for number, video in enumerate(videos):
        with av.open(str(video.path)) as container:
            for index, frame in enumerate(container.decode(video=0)):
                name = f"{number:03d}-{index:05d}"
                cv2.imwrite(str(images_dir / f"{name}.png"), frame.to_ndarray(format="bgr24"))
                rows = [box for box in video.ground_truth if box.frame_index == index]
                (labels_dir / f"{name}.txt").write_text(
                    "".join(
                        f"{b.class_id} {(b.x1 + b.x2) / 2 / video.width:.6f} {(b.y1 + b.y2) / 2 / video.height:.6f} "
                        f"{(b.x2 - b.x1) / video.width:.6f} {(b.y2 - b.y1) / video.height:.6f}\n"
                        for b in rows
                    )
                )
    names = "".join(f"  {index}: {name}\n" for index, name in enumerate(CLASS_NAMES))
    data_yaml = work_dir / "data.yaml"
    data_yaml.write_text(f"path: {work_dir}\ntrain: images/val\nval: images/val\nnames:\n{names}")
    metrics = yolo_load(weights, task="detect").val(
        data=str(data_yaml),
        imgsz=image_size,
        batch=8,
        device="cpu",
        conf=CURVE_CONFIDENCE,
        plots=False,
        verbose=False,
        project=str(work_dir / "runs"),
        name="val",
    )
    return float(metrics.box.map50), float(metrics.box.map)


def operating_points(*, predictions: list, ground_truth: list[TruthBox]) -> str:
    """Precision and recall if the platform kept detections from other confidences up."""
    figures = []
    for threshold in (0.1, 0.25, 0.4, 0.5, 0.6):
        kept = [p for p in predictions if p.confidence >= threshold]
        report = evaluate_detections(predictions=kept, ground_truth=ground_truth)
        figures.append(f"{threshold}: P={report.precision:.3f} R={report.recall:.3f}")
    return "; ".join(figures)


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.3f}" if theirs else "n/a"


def summary_line(report: EvaluationReport) -> str:
    return (
        f"precision={report.precision:.4f} recall={report.recall:.4f} "
        f"map50={report.map50:.4f} map50_95={report.map50_95:.4f}"
    )


def print_per_class(*, operating: EvaluationReport, curve: EvaluationReport) -> None:
    curve_by_class = {m.class_id: m for m in curve.per_class}
    print(f"{'class':<10}{'truth':>7}{'pred':>7}{'TP':>6}{'FP':>6}{'FN':>6}{'P':>8}{'R':>8}{'AP50':>8}{'AP50-95':>9}")
    for metrics in operating.per_class:
        full = curve_by_class[metrics.class_id]
        print(
            f"{CLASS_NAMES[metrics.class_id]:<10}{metrics.ground_truth_count:>7}{metrics.prediction_count:>7}"
            f"{metrics.true_positives:>6}{metrics.false_positives:>6}{metrics.false_negatives:>6}"
            f"{metrics.precision:>8.3f}{metrics.recall:>8.3f}{full.ap50:>8.3f}{full.ap50_95:>9.3f}"
        )


def main() -> None:
    arguments = parse_arguments()
    class_ids = list(range(len(CLASS_NAMES)))
    with tempfile.TemporaryDirectory(prefix="bench-accuracy-") as scratch:
        scratch_dir = Path(scratch)
        started = time.monotonic()
        videos = [
            write_synthetic_video(
                path=scratch_dir / f"held-out-{index}.mp4",
                seed=arguments.seed,
                index=index,
                frame_count=arguments.frames,
            )
            for index in range(arguments.videos)
        ]
        ground_truth = all_ground_truth(videos)
        print(
            f"{len(videos)} held-out videos (seed {arguments.seed}), {len(videos) * arguments.frames} frames, "
            f"{len(ground_truth)} boxes; weights {arguments.weights.name}, image size {arguments.image_size}, "
            f"confidence {arguments.confidence}"
        )

        detector = Detector(
            detector_config(
                weights=str(arguments.weights),
                architecture=arguments.architecture,
                image_size=arguments.image_size,
                confidence=CURVE_CONFIDENCE,
                backend="torch",  # the f32 reference; every other backend and precision is scored below
            )
        )
        detect_started = time.monotonic()
        predictions = detect_all(detector=detector, videos=videos)
        detect_seconds = time.monotonic() - detect_started
        kept = [p for p in predictions if p.confidence >= arguments.confidence]
        curve = evaluate_detections(predictions=predictions, ground_truth=ground_truth, class_ids=class_ids)
        operating = evaluate_detections(predictions=kept, ground_truth=ground_truth, class_ids=class_ids)

        untrained = Detector(
            detector_config(
                weights="",
                architecture=arguments.architecture,
                image_size=arguments.image_size,
                confidence=arguments.confidence,
                backend="torch",  # an ONNX export of random weights would only litter the export cache
            )
        )
        floor = evaluate_detections(
            predictions=detect_all(detector=untrained, videos=videos), ground_truth=ground_truth, class_ids=class_ids
        )
        reference_map50, reference_map50_95 = ultralytics_val_map(
            weights=arguments.weights, videos=videos, image_size=arguments.image_size, work_dir=scratch_dir / "yolo"
        )

        print_per_class(operating=operating, curve=curve)
        print(f"other confidences: {operating_points(predictions=predictions, ground_truth=ground_truth)}")
        print(
            f"detection: {detect_seconds:.1f} s for {len(videos) * arguments.frames} frames "
            f"({detector.device}, {detector.backend} backend, the f32 reference)"
        )
        print(f"baseline, untrained {arguments.architecture}: {summary_line(floor)}")
        print(
            f"whole curve (confidence >= {CURVE_CONFIDENCE}): map50={curve.map50:.4f} map50_95={curve.map50_95:.4f}; "
            f"ultralytics model.val on the same frames: map50={reference_map50:.4f} map50_95={reference_map50_95:.4f}; "
            f"ratio ours/ultralytics map50={ratio(curve.map50, reference_map50)} "
            f"map50_95={ratio(curve.map50_95, reference_map50_95)}"
        )
        scores = score_plans(arguments=arguments, videos=videos, ground_truth=ground_truth, class_ids=class_ids)
        print_plan_scores(scores)
        chosen = auto_choice(arguments=arguments, videos=videos)
        chosen_operating, chosen_curve, _ = scores.get(chosen, (operating, curve, 0.0))
        drop = (scores[("torch", "f32")][1].map50 - chosen_curve.map50) * 100
        print(f"auto chose {chosen[0]}/{chosen[1]} for these weights at this shape on this host")
        print(f"total {time.monotonic() - started:.0f} s")
        print(f"{summary_line(chosen_operating)} chosen={chosen[0]}/{chosen[1]} map50_drop_points={drop:.3f}")


if __name__ == "__main__":
    main()
