"""Writing a synthetic scene as an H.264 video with its per-frame ground truth."""

from dataclasses import dataclass
from pathlib import Path

import av

from processing.synthetic.dataset import SPLIT_VIDEO
from processing.synthetic.scenes import CLASS_NAMES, GroundTruthBox, make_scene, render_frame


@dataclass(frozen=True)
class SyntheticVideo:
    path: Path
    frame_count: int
    fps: int
    width: int
    height: int
    ground_truth: tuple[GroundTruthBox, ...]
    class_names: tuple[str, ...]


def write_synthetic_video(
    *,
    path: Path,
    seed: int,
    index: int = 0,
    frame_count: int = 60,
    fps: int = 10,
    width: int = 320,
    height: int = 240,
) -> SyntheticVideo:
    """Encode scene (seed, video split, index) with libx264; boxes are in pixels of the written frames."""
    scene = make_scene(seed=(seed, SPLIT_VIDEO, index), width=width, height=height, frame_count=frame_count)
    ground_truth: list[GroundTruthBox] = []
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        for frame_index in range(frame_count):
            frame = render_frame(scene=scene, frame_index=frame_index)
            ground_truth.extend(frame.boxes)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame.image_rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return SyntheticVideo(
        path=Path(path),
        frame_count=frame_count,
        fps=fps,
        width=width,
        height=height,
        ground_truth=tuple(ground_truth),
        class_names=CLASS_NAMES,
    )
