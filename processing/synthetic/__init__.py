"""Synthetic scenes with exact ground truth: training data for the default detector and held-out checks."""

from processing.synthetic.dataset import YoloDataset, write_yolo_dataset
from processing.synthetic.scenes import CLASS_NAMES, GroundTruthBox, RenderedFrame, Scene, make_scene, render_frame
from processing.synthetic.video import SyntheticVideo, write_synthetic_video

__all__ = [
    "CLASS_NAMES",
    "GroundTruthBox",
    "RenderedFrame",
    "Scene",
    "SyntheticVideo",
    "YoloDataset",
    "make_scene",
    "render_frame",
    "write_synthetic_video",
    "write_yolo_dataset",
]
