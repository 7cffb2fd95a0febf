"""Burning a run's boxes into its video: decode with PyAV, draw with OpenCV, encode H.264 with PyAV.

Frames stream straight through, one at a time, and the boxes arrive as an iterator ordered by frame, so
memory stays flat whatever the video's length: one decoded frame, the boxes of one frame, and for trails a
bounded tail of centres per track still on screen. Every decoded frame is written, so the output has the
source's frame count, and frame N carries frame N's boxes (frames a run skipped carry none).
"""

import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

# Colours by class id, BGR, bright enough to read against most footage and distinct from their neighbours.
PALETTE_BGR: tuple[tuple[int, int, int], ...] = (
    (56, 56, 255),
    (151, 157, 255),
    (31, 112, 255),
    (29, 178, 255),
    (49, 210, 207),
    (10, 249, 72),
    (23, 204, 146),
    (134, 219, 61),
    (52, 147, 26),
    (187, 212, 0),
    (168, 153, 44),
    (255, 194, 0),
    (147, 69, 52),
    (255, 115, 100),
    (236, 24, 0),
    (255, 56, 132),
    (133, 0, 82),
    (255, 56, 203),
    (200, 149, 255),
    (199, 55, 255),
)
# How many frames a trail reaches back; a track unseen for that long leaves the screen and the memory.
TRAIL_FRAMES = 30
# x264's speed/size trade-off: "veryfast" keeps a render near real time on two cores at 720p.
X264_OPTIONS = {"preset": "veryfast", "crf": "23", "profile:v": "high"}
FALLBACK_RATE = Fraction(25)


class RenderError(Exception):
    """The source could not be decoded or the output not written; the message says which."""


@dataclass(frozen=True)
class DrawnBox:
    frame_index: int
    class_id: int
    class_name: str
    confidence: float
    track_id: int | None
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True)
class RenderResult:
    frames: int
    width: int
    height: int


def class_colour_bgr(class_id: int) -> tuple[int, int, int]:
    return PALETTE_BGR[class_id % len(PALETTE_BGR)]


def class_colour_rgb(class_id: int) -> tuple[int, int, int]:
    blue, green, red = class_colour_bgr(class_id)
    return red, green, blue


def _text_colour(background: tuple[int, int, int]) -> tuple[int, int, int]:
    blue, green, red = background
    # Black on light labels, white on dark ones: the label stays legible whatever the class colour.
    return (0, 0, 0) if 0.299 * red + 0.587 * green + 0.114 * blue > 140 else (255, 255, 255)


class _BoxesByFrame:
    """Hands out the boxes of one frame at a time from an iterator ordered by frame index."""

    def __init__(self, boxes: Iterable[DrawnBox]):
        self._boxes: Iterator[DrawnBox] = iter(boxes)
        self._next: DrawnBox | None = next(self._boxes, None)

    def take(self, frame_index: int) -> list[DrawnBox]:
        taken = []
        while self._next is not None and self._next.frame_index <= frame_index:
            if self._next.frame_index == frame_index:
                taken.append(self._next)
            self._next = next(self._boxes, None)
        return taken


class _Trails:
    """The recent centres of each track, drawn as a fading polyline behind its box."""

    def __init__(self, length: int = TRAIL_FRAMES):
        self.length = length
        self._points: dict[int, deque] = {}
        self._class: dict[int, int] = {}

    def add(self, frame_index: int, boxes: list[DrawnBox]) -> None:
        for box in boxes:
            if box.track_id is None:
                continue
            centre = (int(round((box.x1 + box.x2) / 2)), int(round((box.y1 + box.y2) / 2)))
            self._points.setdefault(box.track_id, deque(maxlen=self.length)).append((frame_index, centre))
            self._class[box.track_id] = box.class_id
        for track_id in [t for t, points in self._points.items() if points[-1][0] <= frame_index - self.length]:
            del self._points[track_id]
            del self._class[track_id]

    def draw(self, image: np.ndarray, frame_index: int, thickness: int) -> None:
        for track_id, points in self._points.items():
            recent = [centre for seen, centre in points if seen > frame_index - self.length]
            colour = class_colour_bgr(self._class[track_id])
            for start, end in zip(recent, recent[1:], strict=False):
                cv2.line(image, start, end, colour, thickness, cv2.LINE_AA)
            if recent:
                cv2.circle(image, recent[-1], thickness + 1, colour, -1, cv2.LINE_AA)


def _label(box: DrawnBox) -> str:
    text = f"{box.class_name} {box.confidence:.2f}"
    return f"{text} #{box.track_id}" if box.track_id is not None else text


def draw_boxes(image: np.ndarray, boxes: list[DrawnBox], *, thickness: int, font_scale: float) -> None:
    """Draw each box's outline and its label (class, confidence, track id) in the class's colour, in place."""
    height, width = image.shape[:2]
    for box in boxes:
        colour = class_colour_bgr(box.class_id)
        x1, y1 = max(0, int(math.floor(box.x1))), max(0, int(math.floor(box.y1)))
        x2, y2 = min(width - 1, int(math.ceil(box.x2))), min(height - 1, int(math.ceil(box.y2)))
        if x2 <= x1 or y2 <= y1:
            continue
        cv2.rectangle(image, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
        text = _label(box)
        (text_width, text_height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        label_height = text_height + baseline + 4
        # Above the box when there is room, else just inside its top edge.
        top = y1 - label_height if y1 - label_height >= 0 else y1
        right = min(width - 1, x1 + text_width + 4)
        cv2.rectangle(image, (x1, top), (right, top + label_height), colour, -1)
        cv2.putText(
            image,
            text,
            (x1 + 2, top + text_height + 2),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            _text_colour(colour),
            1,
            cv2.LINE_AA,
        )


def line_thickness(width: int, height: int) -> int:
    return max(2, round(min(width, height) / 240))


def render_annotated_video(
    *,
    source_path: str | Path,
    output_path: str | Path,
    boxes: Iterable[DrawnBox],
    trails: bool,
    on_progress: Callable[[int, int | None], None] | None = None,
    progress_every: int | None = None,
) -> RenderResult:
    """Write `output_path`: the source's frames with `boxes` (ordered by frame) drawn in, as H.264 MP4.

    The MP4 is yuv420p with its index up front (faststart), so a browser plays it while it downloads.
    `on_progress(frames_done, frames_total)` is called every `progress_every` frames and at the end;
    frames_total is None when the container does not say.
    """
    by_frame = _BoxesByFrame(boxes)
    track_trails = _Trails() if trails else None
    try:
        with av.open(str(source_path)) as source:
            stream = source.streams.video[0]
            stream.thread_type = "AUTO"
            total = stream.frames or None
            rate = stream.average_rate or stream.guessed_rate or FALLBACK_RATE
            # yuv420p halves the chroma planes: both sides must be even, so an odd last row or column goes.
            width, height = stream.codec_context.width // 2 * 2, stream.codec_context.height // 2 * 2
            if width < 2 or height < 2:
                raise RenderError("The video has no picture to draw on.")
            thickness = line_thickness(width, height)
            font_scale = max(0.4, min(width, height) / 900)
            step = progress_every or max(1, (total or 500) // 20)
            with av.open(str(output_path), mode="w", format="mp4", options={"movflags": "+faststart"}) as output:
                encoded = output.add_stream("libx264", rate=rate, options=X264_OPTIONS)
                encoded.width, encoded.height, encoded.pix_fmt = width, height, "yuv420p"
                frames = 0
                for index, frame in enumerate(source.decode(stream)):
                    image = frame.to_ndarray(format="bgr24")[:height, :width]
                    image = np.ascontiguousarray(image)
                    drawn = by_frame.take(index)
                    if track_trails is not None:
                        track_trails.add(index, drawn)
                        track_trails.draw(image, index, thickness)
                    draw_boxes(image, drawn, thickness=thickness, font_scale=font_scale)
                    out_frame = av.VideoFrame.from_ndarray(image, format="bgr24")
                    for packet in encoded.encode(out_frame):
                        output.mux(packet)
                    frames = index + 1
                    if on_progress is not None and frames % step == 0:
                        on_progress(frames, total)
                for packet in encoded.encode():
                    output.mux(packet)
    except av.error.FFmpegError as exc:
        raise RenderError(f"Rendering failed: {exc}") from exc
    if frames == 0:
        raise RenderError("The video has no frames to draw on.")
    if on_progress is not None:
        on_progress(frames, total)
    return RenderResult(frames=frames, width=width, height=height)
