"""Writing synthetic scenes as an ultralytics (YOLO format) detection dataset."""

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from processing.synthetic.scenes import CLASS_NAMES, make_scene, render_frame

# The second element of every scene seed names what the scene is for, so a dataset seed and a
# held-out video seed never draw the same scene even when the integers coincide.
SPLIT_TRAIN = 0
SPLIT_VALIDATION = 1
SPLIT_VIDEO = 2

_SCENE_FRAMES = 60


@dataclass(frozen=True)
class YoloDataset:
    directory: Path
    data_yaml: Path
    train_images: int
    validation_images: int
    class_names: tuple[str, ...]


def _write_split(
    *, directory: Path, split_name: str, split_code: int, seed: int, count: int, width: int, height: int
) -> None:
    images_dir = directory / "images" / split_name
    labels_dir = directory / "labels" / split_name
    images_dir.mkdir(parents=True, exist_ok=True)
    labels_dir.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        rng = np.random.default_rng([seed, split_code, index, 1])
        scene = make_scene(seed=(seed, split_code, index), width=width, height=height, frame_count=_SCENE_FRAMES)
        frame = render_frame(scene=scene, frame_index=int(rng.integers(0, _SCENE_FRAMES)))
        # JPEG at varying quality stands in for the compression artefacts of real (and x264) video.
        quality = int(rng.integers(60, 96))
        image_bgr = cv2.cvtColor(frame.image_rgb, cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(images_dir / f"{index:06d}.jpg"), image_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
        lines = [
            f"{box.class_id} {(box.x1 + box.x2) / 2 / width:.6f} {(box.y1 + box.y2) / 2 / height:.6f} "
            f"{(box.x2 - box.x1) / width:.6f} {(box.y2 - box.y1) / height:.6f}"
            for box in frame.boxes
        ]
        (labels_dir / f"{index:06d}.txt").write_text("".join(f"{line}\n" for line in lines))


def write_yolo_dataset(
    *,
    directory: Path,
    seed: int,
    train_images: int,
    validation_images: int,
    width: int = 320,
    height: int = 240,
) -> YoloDataset:
    """Render independent scenes (one frame each) into `directory` with a `data.yaml` ultralytics reads."""
    directory = Path(directory).resolve()
    for split_name, split_code, count in (
        ("train", SPLIT_TRAIN, train_images),
        ("val", SPLIT_VALIDATION, validation_images),
    ):
        _write_split(
            directory=directory,
            split_name=split_name,
            split_code=split_code,
            seed=seed,
            count=count,
            width=width,
            height=height,
        )
    names = "\n".join(f"  {index}: {name}" for index, name in enumerate(CLASS_NAMES))
    data_yaml = directory / "data.yaml"
    data_yaml.write_text(f"path: {directory}\ntrain: images/train\nval: images/val\nnames:\n{names}\n")
    return YoloDataset(
        directory=directory,
        data_yaml=data_yaml,
        train_images=train_images,
        validation_images=validation_images,
        class_names=CLASS_NAMES,
    )
