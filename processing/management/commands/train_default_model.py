"""`manage.py train_default_model`: train the offline default detector on synthetic scenes."""

import shlex
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from processing.synthetic.training import TrainingRecipe, train_default_detector

DEFAULT_OUTPUT = Path("processing/weights/default-detector.pt")


class Command(BaseCommand):
    help = (
        "Render a seeded synthetic dataset and train the default YOLO detector on CPU, offline. "
        "The defaults are the recipe of the committed processing/weights/default-detector.pt."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--epochs", type=int, default=28)
        parser.add_argument("--images", type=int, default=960, help="training images; validation gets a fifth")
        parser.add_argument("--image-size", type=int, default=256)
        parser.add_argument("--architecture", default="yolov8n.yaml")
        parser.add_argument("--batch", type=int, default=16)
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--work-dir", type=Path, default=Path(settings.BASE_DIR) / "var" / "training")
        parser.add_argument("--output", type=Path, default=Path(settings.BASE_DIR) / DEFAULT_OUTPUT)

    def handle(self, *args, **options):
        recipe = TrainingRecipe(
            seed=options["seed"],
            epochs=options["epochs"],
            train_images=options["images"],
            validation_images=max(options["images"] // 5, 1),
            image_size=options["image_size"],
            architecture=options["architecture"],
            batch_size=options["batch"],
            workers=options["workers"],
        )
        outcome = train_default_detector(
            recipe=recipe,
            work_dir=options["work_dir"].resolve(),
            output=options["output"].resolve(),
            command_line=shlex.join(["python", "manage.py", *sys.argv[1:]]),
        )
        self.stdout.write(
            f"wrote {outcome.weights} (sha256 {outcome.sha256}) and {outcome.metadata} in {outcome.wall_seconds:.0f} s"
        )
