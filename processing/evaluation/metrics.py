"""Detection metrics against ground truth: IoU matching, precision, recall, AP@0.5 and mAP@0.5:0.95.

Conventions follow COCO (pycocotools) so the figures can be compared with published numbers:
- matching is per frame and per class, predictions in descending confidence each take the still unmatched
  ground-truth box with the highest IoU, provided that IoU >= the threshold; every other prediction is a
  false positive (duplicates included);
- AP is the area under the precision envelope, read either at COCO's 101 recall points (the default) or
  with all-point interpolation (Pascal VOC 2010 and later);
- mAP averages AP over the classes that have ground truth; mAP@0.5:0.95 also averages over the ten IoU
  thresholds 0.50, 0.55, ..., 0.95;
- the overall precision and recall pool the matches of every class (micro average) at IoU 0.5, over all
  the predictions given, i.e. at the confidence the detector ran with; a ratio with nothing to count
  (precision without predictions, recall without ground truth) is nan, not 0 or 1.

There is no per-frame cap on predictions (COCO keeps the 100 best per image) and no "crowd" regions.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal, Protocol

import numpy as np

COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)  # exactly as pycocotools builds them
COCO_RECALL_POINTS = np.linspace(0.0, 1.0, 101)

Interpolation = Literal["coco101", "all_points"]


class BoxLike(Protocol):
    frame_index: int
    class_id: int
    x1: float
    y1: float
    x2: float
    y2: float


class ScoredBoxLike(BoxLike, Protocol):
    confidence: float


@dataclass(frozen=True)
class PredictedBox:
    frame_index: int
    class_id: int
    confidence: float
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True)
class TruthBox:
    frame_index: int
    class_id: int
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True)
class ClassMetrics:
    class_id: int
    ground_truth_count: int
    prediction_count: int
    true_positives: int  # at the matching IoU threshold (0.5 by default)
    false_positives: int
    false_negatives: int
    precision: float
    recall: float
    ap50: float  # nan for a class without ground truth
    ap50_95: float
    # Precision envelope at recall 0, 0.01, ..., 1 (IoU 0.5): what a precision-recall plot draws.
    precision_at_recall: tuple[float, ...]


@dataclass(frozen=True)
class EvaluationReport:
    per_class: tuple[ClassMetrics, ...]
    precision: float
    recall: float
    map50: float
    map50_95: float
    iou_threshold: float
    interpolation: str

    def to_dict(self) -> dict:
        """Plain JSON-ready values; nan becomes None."""

        def clean(value):
            if isinstance(value, float) and np.isnan(value):
                return None
            if isinstance(value, (list, tuple)):
                return [clean(item) for item in value]
            if isinstance(value, dict):
                return {key: clean(item) for key, item in value.items()}
            return value

        return clean(asdict(self))


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (n, 4) and (m, 4) boxes given as x1, y1, x2, y2; an (n, m) matrix."""
    boxes_a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    boxes_b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    left = np.maximum(boxes_a[:, None, 0], boxes_b[None, :, 0])
    top = np.maximum(boxes_a[:, None, 1], boxes_b[None, :, 1])
    right = np.minimum(boxes_a[:, None, 2], boxes_b[None, :, 2])
    bottom = np.minimum(boxes_a[:, None, 3], boxes_b[None, :, 3])
    intersection = np.clip(right - left, 0.0, None) * np.clip(bottom - top, 0.0, None)
    area_a = np.clip(boxes_a[:, 2] - boxes_a[:, 0], 0.0, None) * np.clip(boxes_a[:, 3] - boxes_a[:, 1], 0.0, None)
    area_b = np.clip(boxes_b[:, 2] - boxes_b[:, 0], 0.0, None) * np.clip(boxes_b[:, 3] - boxes_b[:, 1], 0.0, None)
    union = area_a[:, None] + area_b[None, :] - intersection
    return np.where(union > 0, intersection / np.where(union > 0, union, 1.0), 0.0)


def _coordinates(box: BoxLike) -> tuple[float, float, float, float]:
    return float(box.x1), float(box.y1), float(box.x2), float(box.y2)


def match_frame(
    *, predicted: np.ndarray, confidences: np.ndarray, truth: np.ndarray, iou_thresholds: np.ndarray
) -> np.ndarray:
    """Greedy matching within one frame and class: (len(thresholds), n_predictions) booleans, True = hit.

    Predictions are visited in descending confidence (stable for ties, as pycocotools' mergesort).
    """
    order = np.argsort(-np.asarray(confidences, dtype=np.float64), kind="mergesort")
    hits = np.zeros((len(iou_thresholds), len(order)), dtype=bool)
    if len(order) == 0 or len(truth) == 0:
        return hits
    ious = box_iou(np.asarray(predicted)[order], truth)
    for threshold_index, threshold in enumerate(iou_thresholds):
        taken = np.zeros(len(truth), dtype=bool)
        for rank, row in enumerate(ious):
            candidates = np.where(taken | (row < threshold), -1.0, row)
            best = int(np.argmax(candidates))
            if candidates[best] < 0:
                continue
            taken[best] = True
            hits[threshold_index, order[rank]] = True
    return hits


def average_precision(
    *, hits: np.ndarray, confidences: np.ndarray, truth_count: int, interpolation: Interpolation
) -> float:
    """AP of one class at one IoU threshold from the hit flags of all its predictions over all frames."""
    if truth_count == 0:
        return float("nan")
    if len(hits) == 0:
        return 0.0
    recall, precision = _precision_recall_curve(hits=hits, confidences=confidences, truth_count=truth_count)
    if interpolation == "coco101":
        return float(np.mean(_precision_at_recall_points(recall=recall, precision=precision)))
    recall_steps = np.diff(np.concatenate([[0.0], recall]))
    return float(np.sum(recall_steps * precision))


def _precision_recall_curve(
    *, hits: np.ndarray, confidences: np.ndarray, truth_count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Recall and the monotone precision envelope after each prediction, most confident first."""
    order = np.argsort(-np.asarray(confidences, dtype=np.float64), kind="mergesort")
    true_positives = np.cumsum(hits[order])
    false_positives = np.cumsum(~hits[order])
    recall = true_positives / truth_count
    precision = true_positives / (true_positives + false_positives + np.spacing(1))
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    return recall, envelope


def _precision_at_recall_points(*, recall: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """The envelope read at recall 0, 0.01, ..., 1: the first point reaching each recall; 0 past the end."""
    indices = np.searchsorted(recall, COCO_RECALL_POINTS, side="left")
    sampled = np.zeros(len(COCO_RECALL_POINTS))
    reachable = indices < len(precision)
    sampled[reachable] = precision[indices[reachable]]
    return sampled


def evaluate_detections(
    *,
    predictions: Iterable[ScoredBoxLike],
    ground_truth: Iterable[BoxLike],
    iou_threshold: float = 0.5,
    interpolation: Interpolation = "coco101",
    class_ids: Sequence[int] | None = None,
) -> EvaluationReport:
    """Compare predictions (frame, class, confidence, box) with ground truth (frame, class, box).

    `class_ids` lists the classes to report (by default every class seen in either input); a class with
    no ground truth gets nan AP and stays out of the means, its predictions still count as false positives
    in its own and the overall precision.
    """
    predictions_by_key: dict[tuple[int, int], list[ScoredBoxLike]] = defaultdict(list)
    truth_by_key: dict[tuple[int, int], list[BoxLike]] = defaultdict(list)
    for prediction in predictions:
        predictions_by_key[(int(prediction.class_id), int(prediction.frame_index))].append(prediction)
    for box in ground_truth:
        truth_by_key[(int(box.class_id), int(box.frame_index))].append(box)
    seen_classes = {key[0] for key in predictions_by_key} | {key[0] for key in truth_by_key}
    reported_classes = sorted(seen_classes if class_ids is None else {int(c) for c in class_ids})

    # The operating-point threshold is matched alongside COCO's ten, so a custom threshold costs one row.
    thresholds = np.concatenate([[iou_threshold], COCO_IOU_THRESHOLDS])
    per_class = []
    for class_id in reported_classes:
        frames = {frame for (cls, frame) in predictions_by_key if cls == class_id}
        frames |= {frame for (cls, frame) in truth_by_key if cls == class_id}
        hit_blocks, confidence_blocks = [], []
        truth_count = 0
        for frame in sorted(frames):
            frame_predictions = predictions_by_key.get((class_id, frame), [])
            frame_truth = truth_by_key.get((class_id, frame), [])
            truth_count += len(frame_truth)
            confidences = np.array([float(p.confidence) for p in frame_predictions], dtype=np.float64)
            hit_blocks.append(
                match_frame(
                    predicted=np.array([_coordinates(p) for p in frame_predictions]).reshape(-1, 4),
                    confidences=confidences,
                    truth=np.array([_coordinates(t) for t in frame_truth]).reshape(-1, 4),
                    iou_thresholds=thresholds,
                )
            )
            confidence_blocks.append(confidences)
        hits = np.concatenate(hit_blocks, axis=1) if hit_blocks else np.zeros((len(thresholds), 0), dtype=bool)
        confidences = np.concatenate(confidence_blocks) if confidence_blocks else np.zeros(0)
        per_class.append(
            _class_metrics(
                class_id=class_id,
                hits=hits,
                confidences=confidences,
                truth_count=truth_count,
                interpolation=interpolation,
            )
        )

    true_positives = sum(m.true_positives for m in per_class)
    prediction_count = sum(m.prediction_count for m in per_class)
    truth_total = sum(m.ground_truth_count for m in per_class)
    with_truth = [m for m in per_class if m.ground_truth_count > 0]
    return EvaluationReport(
        per_class=tuple(per_class),
        precision=true_positives / prediction_count if prediction_count else float("nan"),
        recall=true_positives / truth_total if truth_total else float("nan"),
        map50=float(np.mean([m.ap50 for m in with_truth])) if with_truth else float("nan"),
        map50_95=float(np.mean([m.ap50_95 for m in with_truth])) if with_truth else float("nan"),
        iou_threshold=iou_threshold,
        interpolation=interpolation,
    )


def _class_metrics(
    *, class_id: int, hits: np.ndarray, confidences: np.ndarray, truth_count: int, interpolation: Interpolation
) -> ClassMetrics:
    operating_hits, coco_hits = hits[0], hits[1:]
    true_positives = int(operating_hits.sum())
    prediction_count = len(confidences)
    ap_per_threshold = [
        average_precision(hits=row, confidences=confidences, truth_count=truth_count, interpolation=interpolation)
        for row in coco_hits
    ]
    if truth_count and prediction_count:
        recall_curve, precision_curve = _precision_recall_curve(
            hits=coco_hits[0], confidences=confidences, truth_count=truth_count
        )
        precision_at_recall = tuple(
            float(v) for v in _precision_at_recall_points(recall=recall_curve, precision=precision_curve)
        )
    else:
        precision_at_recall = tuple(0.0 for _ in COCO_RECALL_POINTS)
    return ClassMetrics(
        class_id=class_id,
        ground_truth_count=truth_count,
        prediction_count=prediction_count,
        true_positives=true_positives,
        false_positives=prediction_count - true_positives,
        false_negatives=truth_count - true_positives,
        precision=true_positives / prediction_count if prediction_count else float("nan"),
        recall=true_positives / truth_count if truth_count else float("nan"),
        ap50=ap_per_threshold[0],
        ap50_95=float(np.mean(ap_per_threshold)) if truth_count else float("nan"),
        precision_at_recall=precision_at_recall,
    )
