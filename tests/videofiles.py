"""Generating small real video files for tests and benchmarks."""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# Codecs that take no yuv420p input.
PIXEL_FORMATS = {"cinepak": "rgb24"}


def scene(index: int, *, width: int, height: int) -> np.ndarray:
    """Frame `index` of a moving-square scene, its index written in the red square's position."""
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[..., 2] = 96
    x = (index * 7) % max(width - 40, 1)
    image[10:40, x : x + 30] = (220, 40, 40)
    return image


def write_timed_clip(
    path: Path,
    *,
    codec: str = "libx264",
    times: list[float],
    width: int = 160,
    height: int = 120,
    time_base: Fraction = Fraction(1, 1000),
    audio_seconds: float = 0.0,
    rotation: int = 0,
) -> Path:
    """A clip whose frame i is shown at `times[i]` seconds (VFR, or a first timestamp that is not zero),
    with an optional AAC tone and a display rotation (degrees, counter-clockwise, as FFmpeg's display matrix)."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=30)
        stream.width, stream.height = width, height
        stream.pix_fmt = PIXEL_FORMATS.get(codec, "yuv420p")
        stream.time_base = stream.codec_context.time_base = time_base
        if rotation:
            stream.set_display_rotation(rotation)
        audio = None
        if audio_seconds:
            audio = container.add_stream("aac", rate=16000)
            audio.layout = "mono"
        for index, seconds in enumerate(times):
            frame = av.VideoFrame.from_ndarray(scene(index, width=width, height=height), format="rgb24")
            frame.pts, frame.time_base = round(seconds / time_base), time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
        if audio is not None:
            rate, samples = 16000, int(audio_seconds * 16000)
            tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / rate)).astype(np.float32)
            for start in range(0, samples, 1024):
                samples_here = tone[start : start + 1024].reshape(1, -1)
                chunk = av.AudioFrame.from_ndarray(samples_here, format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts, chunk.time_base = rate, start, Fraction(1, rate)
                container.mux(audio.encode(chunk))
            container.mux(audio.encode())
    return path


def write_test_video(
    path: Path,
    *,
    seconds: float = 2.0,
    fps: int = 10,
    width: int = 320,
    height: int = 240,
    codec: str = "libx264",
    variant: int = 0,
) -> Path:
    """Encode a clip of coloured shapes moving over a gradient, so decoders and detectors see real content.

    Each `variant` starts the shapes elsewhere, so clips differ in content (and SHA-256) but not in size.
    """
    frame_total = int(round(seconds * fps))
    yy, xx = np.mgrid[0:height, 0:width]
    background = np.stack(
        [(xx * 255 // max(width - 1, 1)), (yy * 255 // max(height - 1, 1)), np.full_like(xx, 96)], axis=-1
    ).astype(np.uint8)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = PIXEL_FORMATS.get(codec, "yuv420p")
        for index in range(frame_total):
            image = background.copy()
            x = (index * 7 + variant * 3) % max(width - 60, 1)
            y = (index * 5 + variant * 2) % max(height - 60, 1)
            image[y : y + 50, x : x + 50] = (220, 40, 40)
            cx, cy = width - 40 - x // 2, height // 2
            image[cy - 20 : cy + 20, max(cx - 20, 0) : cx + 20] = (40, 200, 60)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_audio_only(path: Path, *, seconds: float = 1.0, rate: int = 16000) -> Path:
    """An MP4 holding one AAC audio stream and no video."""
    samples = int(seconds * rate)
    tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / rate)).astype(np.float32)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = "mono"
        frame_size = 1024
        for start in range(0, samples, frame_size):
            chunk = tone[start : start + frame_size]
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="fltp", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
