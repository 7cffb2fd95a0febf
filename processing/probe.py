"""Reading a video's properties with PyAV, and refusing what cannot be decoded."""

import math
from dataclasses import asdict, dataclass

import av
from django.conf import settings


class VideoProbeError(Exception):
    """The file is not a video we can decode; `code` names why."""

    def __init__(self, *, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ProbeResult:
    container: str
    codec: str
    duration_seconds: float
    fps: float
    width: int
    height: int
    frame_count: int
    rotation: int
    has_audio: bool

    def as_dict(self) -> dict:
        return asdict(self)


def _rotation(stream) -> int:
    try:
        return int(stream.side_data.get("DISPLAYMATRIX", 0) or 0) % 360
    except (AttributeError, TypeError, ValueError):
        return 0


def _check_limits(*, duration: float, width: int, height: int, frame_count: int) -> None:
    if duration > settings.VIDEO_MAX_DURATION_SECONDS:
        raise VideoProbeError(
            code="too_long",
            message=f"The video lasts {duration:.0f} s; the limit is {settings.VIDEO_MAX_DURATION_SECONDS:.0f} s.",
        )
    if width > settings.VIDEO_MAX_WIDTH or height > settings.VIDEO_MAX_HEIGHT:
        raise VideoProbeError(
            code="resolution_too_large",
            message=f"The video is {width}x{height}; the limit is "
            f"{settings.VIDEO_MAX_WIDTH}x{settings.VIDEO_MAX_HEIGHT}.",
        )
    if frame_count > settings.VIDEO_MAX_FRAME_COUNT:
        raise VideoProbeError(
            code="too_many_frames",
            message=f"The video declares {frame_count} frames; the limit is {settings.VIDEO_MAX_FRAME_COUNT}.",
        )


def probe_video(path: str) -> ProbeResult:
    try:
        container = av.open(path)
    except (av.error.InvalidDataError, av.error.EOFError) as exc:
        raise VideoProbeError(code="not_a_video", message=f"The file is not a decodable video ({exc.strerror or exc}).")
    except av.error.FFmpegError as exc:
        raise VideoProbeError(code="unreadable", message=f"The file could not be read as a video ({exc}).")

    with container:
        if not container.streams.video:
            raise VideoProbeError(code="no_video_stream", message="The file has no video stream.")
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        if not fps or not math.isfinite(fps):
            raise VideoProbeError(code="no_frame_rate", message="The video declares no usable frame rate.")

        duration = 0.0
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / av.time_base

        try:
            first_frame = next(container.decode(stream), None)
        except av.error.FFmpegError as exc:
            raise VideoProbeError(code="undecodable", message=f"The video stream cannot be decoded ({exc}).")
        if first_frame is None:
            raise VideoProbeError(code="no_frames", message="The video stream holds no decodable frame.")

        frame_count = int(stream.frames or 0) or int(round(duration * fps))
        if frame_count <= 0:
            raise VideoProbeError(code="no_frames", message="The video stream holds no frames.")
        _check_limits(
            duration=duration or frame_count / fps,
            width=first_frame.width,
            height=first_frame.height,
            frame_count=frame_count,
        )
        return ProbeResult(
            container=container.format.name,
            codec=stream.codec_context.name,
            duration_seconds=duration or frame_count / fps,
            fps=fps,
            width=first_frame.width,
            height=first_frame.height,
            frame_count=frame_count,
            rotation=_rotation(stream),
            has_audio=bool(container.streams.audio),
        )
