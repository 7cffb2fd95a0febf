"""Decoding a video straight through and handing the sampled frames over a bounded queue.

Decoding never seeks (per-frame seeks are several times slower than decoding
through). A decoder thread scales each sampled frame to the network's input
size while the model works on the previous batch; PyAV and PyTorch both
release the GIL, so the two overlap. The queue is bounded, so memory stays
flat however long the video is.
"""

import contextlib
import math
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np


class VideoDecodeError(Exception):
    pass


@dataclass(frozen=True)
class FrameSampling:
    """Which frames of a video a run looks at: every `step`-th from `start` through `end`."""

    start: int
    end: int  # inclusive
    step: int

    @classmethod
    def for_run(
        cls,
        *,
        frame_count: int,
        fps: float,
        frame_step: int = 1,
        start_frame: int = 0,
        end_frame: int | None = None,
        max_fps: float | None = None,
    ) -> "FrameSampling":
        step = max(1, frame_step)
        if max_fps and fps and max_fps < fps:
            step = max(step, math.ceil(fps / max_fps - 1e-9))
        last = frame_count - 1 if end_frame is None else min(end_frame, frame_count - 1)
        return cls(start=start_frame, end=last, step=step)

    @property
    def total(self) -> int:
        if self.end < self.start:
            return 0
        return (self.end - self.start) // self.step + 1

    def includes(self, index: int) -> bool:
        return self.start <= index <= self.end and (index - self.start) % self.step == 0

    def position(self, index: int) -> int:
        """How many sampled frames come before `index`."""
        if index <= self.start:
            return 0
        return min(self.total, (index - self.start + self.step - 1) // self.step)


@dataclass(frozen=True)
class SampledFrame:
    index: int
    timestamp_seconds: float
    image: np.ndarray  # RGB, scaled to the requested size


def _timestamp(frame: av.VideoFrame, index: int, rate: float) -> float:
    if frame.time is not None:
        return float(frame.time)
    return index / rate if rate else 0.0


def iter_sampled_frames(
    path: str,
    *,
    sampling: FrameSampling,
    width: int,
    height: int,
    resume_from: int = 0,
    fps: float | None = None,
) -> Iterator[SampledFrame]:
    """Yield the sampled frames at index >= resume_from, scaled to width x height (RGB)."""
    first = max(sampling.start, resume_from)
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = fps or float(stream.average_rate or 0) or 0.0
            for index, frame in enumerate(container.decode(stream)):
                if index > sampling.end:
                    break
                if index < first or not sampling.includes(index):
                    continue
                image = frame.reformat(width=width, height=height, format="rgb24", interpolation="BILINEAR")
                yield SampledFrame(
                    index=index, timestamp_seconds=_timestamp(frame, index, rate), image=image.to_ndarray()
                )
    except av.error.FFmpegError as exc:
        raise VideoDecodeError(f"Decoding failed: {exc}") from exc


_END = object()


class PrefetchingFrames:
    """Runs a frame iterator on a decoder thread; iterate it to receive the frames in order.

    Use it as a context manager: leaving the block stops the decoder, even
    when the consumer stops early (cancellation, an error).
    """

    def __init__(self, frames: Iterator[SampledFrame], *, capacity: int):
        self._frames = frames
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, capacity))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._decode, name="frame-decoder", daemon=True)

    def __enter__(self) -> "PrefetchingFrames":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        while self._thread.is_alive():
            # Drain so a decoder blocked on a full queue sees the stop flag.
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)
        self._thread.join()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _decode(self) -> None:
        try:
            for frame in self._frames:
                if not self._put(frame):
                    return
            self._put(_END)
        except BaseException as exc:  # handed to the consumer, which raises it in its own thread
            self._put(exc)
        finally:
            close = getattr(self._frames, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> Iterator[SampledFrame]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
