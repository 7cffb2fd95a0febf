"""Generating small real video files for tests and benchmarks."""

from pathlib import Path

import av
import numpy as np


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
        stream.pix_fmt = "yuv420p"
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
