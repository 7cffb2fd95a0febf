"""What every page may need to know about the detector: whether the default is the bundled demo model.

A template context processor, so the dashboard (a videos view) shows the notice without importing this app.
"""

import functools
import json
from pathlib import Path

from django.conf import settings
from django.utils.functional import cached_property

from processing.models import DetectorModel

DEMO_WEIGHTS = Path(__file__).resolve().parent / "weights" / "default-detector.pt"
INSTALL_COMMAND = "python manage.py install_model yolo11n --default"


@functools.cache
def demo_model_sha256() -> str:
    """The SHA-256 of the bundled demo weights, as recorded beside them when they were trained."""
    return json.loads(DEMO_WEIGHTS.with_suffix(".json").read_text())["sha256"]


def _is_demo_weights_path(path: str) -> bool:
    try:
        return bool(path) and Path(path).resolve() == DEMO_WEIGHTS
    except OSError:
        return False


class DemoModel:
    """Asked lazily: a page that never mentions the demo model costs no query."""

    command = INSTALL_COMMAND

    @property
    def sha256(self) -> str:
        return demo_model_sha256()

    @cached_property
    def is_default(self) -> bool:
        default_sha256 = DetectorModel.objects.filter(is_default=True).values_list("sha256", flat=True).first()
        if default_sha256 is not None:
            return default_sha256 == self.sha256
        # No model registered yet: the first run registers DETECTOR_WEIGHTS, so that is what would run.
        return _is_demo_weights_path(settings.DETECTOR_WEIGHTS)


def demo_model(request) -> dict:
    return {"demo_model": DemoModel()}
