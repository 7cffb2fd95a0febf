import math

import numpy as np
import pytest

from processing.evaluation.metrics import PredictedBox, TruthBox, box_iou, evaluate_detections


def truth(x1, y1, x2, y2, *, frame=0, cls=0):
    return TruthBox(frame_index=frame, class_id=cls, x1=x1, y1=y1, x2=x2, y2=y2)


def predicted(x1, y1, x2, y2, *, confidence=0.9, frame=0, cls=0):
    return PredictedBox(frame_index=frame, class_id=cls, confidence=confidence, x1=x1, y1=y1, x2=x2, y2=y2)


# pycocotools divides by (tp + fp + machine epsilon), so a perfect precision reads 1 - 2e-16: compare
# figures with pytest.approx.


def test_box_iou_of_overlapping_disjoint_and_identical_boxes():
    ious = box_iou(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]]))
    assert ious.tolist() == [[1.0, pytest.approx(50 / 150), 0.0]]


def test_perfect_match_scores_one_everywhere():
    boxes = [truth(0, 0, 10, 10), truth(20, 20, 40, 40, frame=1, cls=1)]
    report = evaluate_detections(
        predictions=[predicted(0, 0, 10, 10), predicted(20, 20, 40, 40, frame=1, cls=1)], ground_truth=boxes
    )
    assert (report.precision, report.recall, report.map50, report.map50_95) == pytest.approx((1.0, 1.0, 1.0, 1.0))
    assert [m.true_positives for m in report.per_class] == [1, 1]


def test_one_missed_object_halves_recall_and_ap():
    boxes = [truth(0, 0, 10, 10), truth(50, 50, 60, 60)]
    predictions = [predicted(0, 0, 10, 10)]
    all_points = evaluate_detections(predictions=predictions, ground_truth=boxes, interpolation="all_points")
    coco = evaluate_detections(predictions=predictions, ground_truth=boxes)
    assert (all_points.precision, all_points.recall, all_points.map50) == pytest.approx((1.0, 0.5, 0.5))
    # COCO reads precision at recall 0, 0.01, ..., 0.50 (51 of the 101 points) and 0 beyond.
    assert coco.map50 == pytest.approx(51 / 101)
    assert all_points.per_class[0].false_negatives == 1


def test_false_positive_ranked_below_every_hit_costs_precision_not_ap():
    report = evaluate_detections(
        predictions=[predicted(0, 0, 10, 10, confidence=0.9), predicted(50, 50, 60, 60, confidence=0.3)],
        ground_truth=[truth(0, 0, 10, 10)],
    )
    assert (report.precision, report.recall, report.map50) == pytest.approx((0.5, 1.0, 1.0))


def test_false_positive_ranked_above_the_hit_halves_ap():
    report = evaluate_detections(
        predictions=[predicted(0, 0, 10, 10, confidence=0.3), predicted(50, 50, 60, 60, confidence=0.9)],
        ground_truth=[truth(0, 0, 10, 10)],
        interpolation="all_points",
    )
    assert report.map50 == pytest.approx(0.5)


def test_wrong_class_is_a_miss_and_a_false_positive():
    report = evaluate_detections(
        predictions=[predicted(0, 0, 10, 10, cls=1)], ground_truth=[truth(0, 0, 10, 10, cls=0)]
    )
    by_class = {m.class_id: m for m in report.per_class}
    assert (by_class[0].recall, by_class[0].ap50) == (0.0, 0.0)
    assert (by_class[1].precision, by_class[1].false_positives) == (0.0, 1)
    assert math.isnan(by_class[1].ap50)  # no ground truth: left out of the mean, as COCO does
    assert (report.precision, report.recall, report.map50) == pytest.approx((0.0, 0.0, 0.0))


def test_duplicate_detection_of_one_object_is_a_false_positive():
    report = evaluate_detections(
        predictions=[predicted(0, 0, 10, 10, confidence=0.9), predicted(0, 0, 10, 10, confidence=0.8)],
        ground_truth=[truth(0, 0, 10, 10)],
    )
    assert (report.per_class[0].true_positives, report.per_class[0].false_positives) == (1, 1)
    assert (report.precision, report.recall, report.map50) == pytest.approx((0.5, 1.0, 1.0))


@pytest.mark.parametrize(("bottom", "matched"), [(4.99, False), (5.0, True), (5.01, True)])
def test_iou_threshold_is_inclusive(bottom, matched):
    # The prediction covers the top part of a 10 x 10 box: IoU = bottom / 10.
    report = evaluate_detections(predictions=[predicted(0, 0, 10, bottom)], ground_truth=[truth(0, 0, 10, 10)])
    assert report.recall == (1.0 if matched else 0.0)


def test_map50_95_counts_the_thresholds_a_box_clears():
    # IoU 0.76 clears 0.50, 0.55, ..., 0.75: six of the ten thresholds.
    report = evaluate_detections(predictions=[predicted(0, 0, 100, 76)], ground_truth=[truth(0, 0, 100, 100)])
    assert report.map50 == pytest.approx(1.0)
    assert report.map50_95 == pytest.approx(0.6)


def test_boxes_only_match_within_their_own_frame():
    report = evaluate_detections(
        predictions=[predicted(0, 0, 10, 10, frame=1)], ground_truth=[truth(0, 0, 10, 10, frame=0)]
    )
    assert (report.precision, report.recall) == pytest.approx((0.0, 0.0))


def test_most_confident_prediction_takes_the_best_overlapping_truth():
    boxes = [truth(0, 0, 10, 10), truth(5, 0, 15, 10)]
    confident = predicted(4, 0, 14, 10, confidence=0.9)  # IoU 0.82 with the second box, 0.43 with the first
    unsure = predicted(5, 0, 15, 10, confidence=0.5)  # only fits the second box, already taken
    report = evaluate_detections(predictions=[unsure, confident], ground_truth=boxes)
    assert (report.per_class[0].true_positives, report.per_class[0].false_positives) == (1, 1)


def test_no_predictions_means_zero_recall_and_undefined_precision():
    report = evaluate_detections(predictions=[], ground_truth=[truth(0, 0, 10, 10), truth(20, 20, 30, 30)])
    assert (report.recall, report.map50, report.map50_95) == pytest.approx((0.0, 0.0, 0.0))
    assert math.isnan(report.precision)


def test_no_ground_truth_means_zero_precision_and_undefined_recall():
    report = evaluate_detections(predictions=[predicted(0, 0, 10, 10)], ground_truth=[])
    assert report.precision == 0.0
    assert math.isnan(report.recall) and math.isnan(report.map50)


def test_nothing_at_all_reports_requested_classes_without_figures():
    report = evaluate_detections(predictions=[], ground_truth=[], class_ids=[0, 1])
    assert [m.class_id for m in report.per_class] == [0, 1]
    assert report.to_dict()["map50"] is None


def _random_scenario(seed):
    """Ground truth over 30 frames and 3 classes; predictions jittered from it, with misses and strays."""
    rng = np.random.default_rng(seed)
    ground_truth, predictions = [], []
    for frame in range(30):
        for _ in range(rng.integers(0, 7)):
            cls = int(rng.integers(0, 3))
            x1, y1 = rng.uniform(0, 280, size=2)
            w, h = rng.uniform(8, 80, size=2)
            ground_truth.append(truth(x1, y1, x1 + w, y1 + h, frame=frame, cls=cls))
            if rng.random() < 0.85:
                jitter = rng.normal(0, 0.12, size=4) * [w, h, w, h]
                predictions.append(
                    predicted(
                        x1 + jitter[0],
                        y1 + jitter[1],
                        x1 + w + jitter[2],
                        y1 + h + jitter[3],
                        confidence=float(rng.uniform(0.05, 1.0)),
                        frame=frame,
                        cls=cls if rng.random() < 0.9 else int(rng.integers(0, 3)),
                    )
                )
        for _ in range(rng.integers(0, 3)):
            x1, y1 = rng.uniform(0, 280, size=2)
            w, h = rng.uniform(8, 80, size=2)
            predictions.append(
                predicted(
                    x1,
                    y1,
                    x1 + w,
                    y1 + h,
                    confidence=float(rng.uniform(0.05, 1.0)),
                    frame=frame,
                    cls=int(rng.integers(0, 3)),
                )
            )
    return predictions, ground_truth


def _pycocotools_figures(predictions, ground_truth):
    """AP per class at IoU 0.5 and the two means, from pycocotools on the same boxes."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    frames = sorted({b.frame_index for b in ground_truth} | {p.frame_index for p in predictions})
    dataset = {
        "images": [{"id": frame + 1} for frame in frames],
        "categories": [{"id": cls + 1} for cls in range(3)],
        "annotations": [
            {
                "id": index + 1,
                "image_id": b.frame_index + 1,
                "category_id": b.class_id + 1,
                "bbox": [b.x1, b.y1, b.x2 - b.x1, b.y2 - b.y1],
                "area": (b.x2 - b.x1) * (b.y2 - b.y1),
                "iscrowd": 0,
            }
            for index, b in enumerate(ground_truth)
        ],
    }
    coco_truth = COCO()
    coco_truth.dataset = dataset
    coco_truth.createIndex()
    coco_predictions = coco_truth.loadRes(
        [
            {
                "image_id": p.frame_index + 1,
                "category_id": p.class_id + 1,
                "bbox": [p.x1, p.y1, p.x2 - p.x1, p.y2 - p.y1],
                "score": p.confidence,
            }
            for p in predictions
        ]
    )
    evaluation = COCOeval(coco_truth, coco_predictions, iouType="bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    precision = evaluation.eval["precision"][
        :, :, :, 0, -1
    ]  # thresholds x recall points x classes, all areas, 100 dets
    per_class_ap50 = [float(np.mean(precision[0, :, k])) for k in range(3)]
    return per_class_ap50, evaluation.stats[1], evaluation.stats[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_pycocotools_on_the_same_boxes(seed):
    predictions, ground_truth = _random_scenario(seed)
    report = evaluate_detections(predictions=predictions, ground_truth=ground_truth, class_ids=[0, 1, 2])
    per_class_ap50, coco_map50, coco_map50_95 = _pycocotools_figures(predictions, ground_truth)
    assert [m.ap50 for m in report.per_class] == pytest.approx(per_class_ap50, abs=1e-9)
    assert report.map50 == pytest.approx(coco_map50, abs=1e-9)
    assert report.map50_95 == pytest.approx(coco_map50_95, abs=1e-9)
    assert 0.2 < report.map50 < 0.95  # a scenario with misses and strays, not a trivial one
