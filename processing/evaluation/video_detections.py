"""Running the platform's detector over every frame of a video file, as evaluation input."""

from collections.abc import Iterator
from pathlib import Path

import av

from processing.detector import Detector, InputGeometry
from processing.evaluation.metrics import PredictedBox
from processing.frames import FrameSampling, SampledFrame, iter_sampled_frames

_TO_THE_LAST_FRAME = 2**62


def _video_size(path: Path) -> tuple[int, int]:
    with av.open(str(path)) as container:
        context = container.streams.video[0].codec_context
        return context.width, context.height


def _batches(frames: Iterator[SampledFrame], size: int) -> Iterator[list[SampledFrame]]:
    batch: list[SampledFrame] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def detect_video(*, detector: Detector, path: Path, batch_size: int = 8) -> list[PredictedBox]:
    """Every frame's detections as PredictedBox rows in the video's own pixels.

    Frames are decoded and scaled the way the pipeline does it (scaled while decoding, then handed to
    the detector with their geometry), so an evaluation sees what a run would have stored.
    """
    width, height = _video_size(Path(path))
    geometry = InputGeometry.for_source(width=width, height=height, image_size=detector.config.image_size)
    frames = iter_sampled_frames(
        str(path),
        sampling=FrameSampling(start=0, end=_TO_THE_LAST_FRAME, step=1),
        width=geometry.scaled_width,
        height=geometry.scaled_height,
    )
    predictions = []
    for batch in _batches(frames, batch_size):
        for frame, found in zip(batch, detector.detect([frame.image for frame in batch], geometry), strict=True):
            for box, confidence, class_id in zip(found.boxes_xyxy, found.confidences, found.class_ids, strict=True):
                predictions.append(
                    PredictedBox(
                        frame_index=frame.index,
                        class_id=int(class_id),
                        confidence=float(confidence),
                        x1=float(box[0]),
                        y1=float(box[1]),
                        x2=float(box[2]),
                        y2=float(box[3]),
                    )
                )
    return predictions
