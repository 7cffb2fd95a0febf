"""Choosing a backend and precision for one model and input shape by measuring them on this host.

Each candidate runs a warm-up batch and a few timed batches of frames the platform renders itself; its
detections on a fixed set of frames are matched against the f32 PyTorch network's (same class, IoU >= 0.5).
A candidate whose recall or precision against that reference falls below `AGREEMENT` is refused for this
model; the fastest of the others wins. Timings cover what differs between candidates (input conversion and
the network), not NMS, which all of them share.
"""

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from processing.backends.openvino_backend import Int8Refused

logger = logging.getLogger(__name__)

AGREEMENT = 0.98  # recall and precision against the f32 reference, each
MATCH_IOU = 0.5
AGREEMENT_FRAMES = 16
AGREEMENT_SEED = 5150  # a fixed set of frames, so a choice is repeatable
TIMED_BATCHES = 3
# Below this many reference boxes an int8 model cannot show that it agrees; bf16 and f32 keep the network's own
# weights, so agreement on an empty set is taken at its word for them.
MIN_REFERENCE_BOXES_FOR_INT8 = 10


@dataclass(frozen=True)
class Candidate:
    backend: str
    precision: str

    @property
    def label(self) -> str:
        return f"{self.backend}/{self.precision}"


@dataclass
class Trial:
    backend: str
    precision: str
    model_only_fps: float | None = None
    recall: float | None = None
    precision_score: float | None = None
    reference_boxes: int = 0
    accepted: bool = False
    reason: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def agreement_frames(*, width: int, height: int, count: int = AGREEMENT_FRAMES) -> list[np.ndarray]:
    """A fixed set of synthetic frames at the size the decoder hands the model (RGB uint8)."""
    from processing.synthetic import make_scene, render_frame

    frames = []
    for number in range(count):
        scene = make_scene(seed=(AGREEMENT_SEED, number), width=width, height=height)
        frames.append(render_frame(scene=scene, frame_index=number % 5).image_rgb)
    return frames


def box_iou(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """IoU of every box in `first` (n, 4) with every box in `second` (m, 4), xyxy."""
    top_left = np.maximum(first[:, None, :2], second[None, :, :2])
    bottom_right = np.minimum(first[:, None, 2:], second[None, :, 2:])
    overlap = np.clip(bottom_right - top_left, 0, None).prod(axis=2)
    area_first = (first[:, 2:] - first[:, :2]).clip(0).prod(axis=1)
    area_second = (second[:, 2:] - second[:, :2]).clip(0).prod(axis=1)
    union = area_first[:, None] + area_second[None, :] - overlap
    return np.where(union > 0, overlap / np.where(union > 0, union, 1), 0.0)


def matched_boxes(reference, candidate) -> int:
    """Greedy one-to-one matches of the same class at IoU >= MATCH_IOU, best overlaps first."""
    if not len(reference.class_ids) or not len(candidate.class_ids):
        return 0
    iou = box_iou(reference.boxes_xyxy, candidate.boxes_xyxy)
    iou[reference.class_ids[:, None] != candidate.class_ids[None, :]] = 0.0
    matches = 0
    pairs = np.argwhere(iou >= MATCH_IOU)
    used_reference, used_candidate = set(), set()
    for row, column in sorted(pairs.tolist(), key=lambda pair: -iou[pair[0], pair[1]]):
        if row in used_reference or column in used_candidate:
            continue
        used_reference.add(row)
        used_candidate.add(column)
        matches += 1
    return matches


def agreement(reference: Sequence, candidate: Sequence) -> tuple[float, float, int]:
    """(recall, precision, reference box count) of `candidate`'s detections against `reference`'s, frame by frame."""
    reference_count = sum(len(frame.class_ids) for frame in reference)
    candidate_count = sum(len(frame.class_ids) for frame in candidate)
    matches = sum(matched_boxes(ours, theirs) for ours, theirs in zip(reference, candidate, strict=True))
    recall = matches / reference_count if reference_count else (1.0 if not candidate_count else 0.0)
    precision = matches / candidate_count if candidate_count else (1.0 if not reference_count else 0.0)
    return recall, precision, reference_count


def measure(
    *,
    candidates: Sequence[Candidate],
    detect: Callable[[Candidate, list[np.ndarray]], list],
    forward: Callable[[Candidate, np.ndarray], object],
    reference: list,
    frames: list[np.ndarray],
    batch: np.ndarray,
) -> list[Trial]:
    """Time and check each candidate. `detect` runs the whole detection (for agreement), `forward` the network on
    one padded batch (for speed); a candidate that fails to build or run is refused with the reason."""
    trials = []
    for candidate in candidates:
        trial = Trial(backend=candidate.backend, precision=candidate.precision)
        trials.append(trial)
        try:
            found = detect(candidate, frames)
            trial.recall, trial.precision_score, trial.reference_boxes = agreement(reference, found)
            forward(candidate, batch)  # warm-up: first-run allocations and kernel selection
            started = time.perf_counter()
            for _ in range(TIMED_BATCHES):
                forward(candidate, batch)
            trial.model_only_fps = TIMED_BATCHES * len(batch) / (time.perf_counter() - started)
        except Int8Refused as exc:
            # Its own accuracy guard turned the quantisation down: refused before any frame was timed.
            logger.warning("backend %s refused: %s", candidate.label, exc.reason)
            trial.reason = f"refused by the int8 guard: {exc.reason}"[:500]
            continue
        except Exception as exc:
            logger.warning("backend %s refused: %s", candidate.label, exc, exc_info=True)
            trial.reason = f"failed: {exc}"[:500]
            continue
        if candidate.precision == "int8" and trial.reference_boxes < MIN_REFERENCE_BOXES_FOR_INT8:
            trial.reason = f"only {trial.reference_boxes} reference boxes: too few to trust int8"
        elif trial.recall < AGREEMENT or trial.precision_score < AGREEMENT:
            trial.reason = (
                f"disagrees with f32: recall {trial.recall:.3f}, precision {trial.precision_score:.3f} "
                f"(needs {AGREEMENT} each)"
            )
        else:
            trial.accepted = True
        logger.info(
            "backend %s: %.1f frames/s, recall %.3f, precision %.3f%s",
            candidate.label,
            trial.model_only_fps,
            trial.recall,
            trial.precision_score,
            "" if trial.accepted else f" - refused ({trial.reason})",
        )
    return trials


def fastest_accepted(trials: Sequence[Trial]) -> Trial | None:
    accepted = [trial for trial in trials if trial.accepted]
    return max(accepted, key=lambda trial: trial.model_only_fps) if accepted else None
