"""Training the default detector on synthetic scenes with ultralytics, on CPU and offline."""

import hashlib
import json
import os
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from processing.synthetic.dataset import write_yolo_dataset
from processing.synthetic.scenes import CLASS_NAMES
from processing.weights_loading import ultralytics_training_reloads_restricted, yolo_load


@dataclass(frozen=True)
class TrainingRecipe:
    seed: int
    epochs: int
    train_images: int
    validation_images: int
    image_size: int
    architecture: str
    batch_size: int
    workers: int
    frame_width: int = 320
    frame_height: int = 240


@dataclass(frozen=True)
class TrainingOutcome:
    weights: Path
    metadata: Path
    sha256: str
    wall_seconds: float


def configure_offline_ultralytics(*, config_dir: Path) -> None:
    """Keep ultralytics from reaching the network; it reads these once, when first imported."""
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def train_default_detector(
    *, recipe: TrainingRecipe, work_dir: Path, output: Path, command_line: str
) -> TrainingOutcome:
    """Render the dataset, train from the architecture file (no pretrained weights), keep the best epoch."""
    configure_offline_ultralytics(config_dir=work_dir / "ultralytics-config")
    import torch
    import ultralytics

    started = time.monotonic()
    dataset_dir = work_dir / f"dataset-seed{recipe.seed}-{recipe.train_images}x{recipe.frame_width}"
    shutil.rmtree(dataset_dir, ignore_errors=True)
    dataset = write_yolo_dataset(
        directory=dataset_dir,
        seed=recipe.seed,
        train_images=recipe.train_images,
        validation_images=recipe.validation_images,
        width=recipe.frame_width,
        height=recipe.frame_height,
    )

    model = yolo_load(recipe.architecture, task="detect")
    with ultralytics_training_reloads_restricted():
        model.train(
            data=str(dataset.data_yaml),
            epochs=recipe.epochs,
            imgsz=recipe.image_size,
            batch=recipe.batch_size,
            workers=recipe.workers,
            device="cpu",
            seed=recipe.seed,
            deterministic=True,
            amp=False,  # the AMP check downloads a model; CPU training is full precision anyway
            plots=False,  # plotting fetches a font
            cache="ram",
            project=str(work_dir / "runs"),
            name=f"seed{recipe.seed}",
            exist_ok=True,
            verbose=False,
        )
    trainer = model.trainer
    best = Path(trainer.best if Path(trainer.best).is_file() else trainer.last)
    output.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(best, output)
    # What training wrote is read back the way the workers will read it: refused here rather than on a run.
    yolo_load(output, task="detect")
    wall_seconds = time.monotonic() - started

    sha256 = file_sha256(output)
    validation = {key: round(float(value), 4) for key, value in (trainer.metrics or {}).items()}
    metadata = {
        "weights": output.name,
        "sha256": sha256,
        "size_bytes": output.stat().st_size,
        "command": command_line,
        "seed": recipe.seed,
        "epochs": recipe.epochs,
        "train_images": recipe.train_images,
        "validation_images": recipe.validation_images,
        "frame_size": [recipe.frame_width, recipe.frame_height],
        "image_size": recipe.image_size,
        "architecture": recipe.architecture,
        "batch_size": recipe.batch_size,
        "class_names": list(CLASS_NAMES),
        "ultralytics_version": ultralytics.__version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "training_wall_seconds": round(wall_seconds, 1),
        "validation": validation,
        "best_epoch_checkpoint": best.name,
    }
    metadata_path = output.with_suffix(".json")
    metadata_path.write_text(json.dumps(metadata, indent=2) + "\n")
    return TrainingOutcome(weights=output, metadata=metadata_path, sha256=sha256, wall_seconds=wall_seconds)
