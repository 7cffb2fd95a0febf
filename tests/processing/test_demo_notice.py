"""The demo-model notice: on the dashboard while the bundled demo model is the default, on the page of a video
it processed, and gone once a real model is the default."""

from pathlib import Path

import pytest

from processing.models import DetectorModel
from processing.services.jobs import JobOptions, job_create
from processing.services.registry import detector_model_register
from tests.factories import UserFactory, VideoFactory

pytestmark = pytest.mark.django_db

NOTICE = (
    "Demo model: finds synthetic shapes only (box, disc, triangle, ring, cross). Install a real model: "
    "<code>python manage.py install_model yolo11n --default</code>"
)


@pytest.fixture
def demo_weights(settings) -> Path:
    return Path(settings.BASE_DIR) / "processing" / "weights" / "default-detector.pt"


@pytest.fixture
def signed_in(client):
    user = UserFactory()
    client.force_login(user)
    client.user = user
    return client


def real_model() -> DetectorModel:
    """Another model as the default: the notice looks at the default's SHA-256 only, so no weights are loaded."""
    DetectorModel.objects.filter(is_default=True).update(is_default=False)
    return DetectorModel.objects.create(
        name="street", weights="models/street.pt", sha256="f" * 64, class_names={"0": "person"}, is_default=True
    )


def test_dashboard_says_so_while_demo_weights_are_configured_and_nothing_is_registered(
    signed_in, settings, demo_weights
):
    settings.DETECTOR_WEIGHTS = str(demo_weights)

    assert NOTICE in signed_in.get("/").content.decode()


def test_dashboard_says_so_while_the_registered_default_is_the_demo_model(signed_in, settings, demo_weights):
    settings.DETECTOR_WEIGHTS = ""
    detector_model_register(
        name="default-detector", version="demo", weights_path=str(demo_weights), image_size=256, is_default=True
    )

    assert NOTICE in signed_in.get("/").content.decode()


def test_no_notice_once_a_real_model_is_the_default(signed_in, settings, demo_weights, tmp_path):
    settings.DETECTOR_WEIGHTS = str(demo_weights)
    real_model()

    assert "Demo model:" not in signed_in.get("/").content.decode()


def test_video_page_says_so_for_a_video_the_demo_model_processed(signed_in, settings, demo_weights, tmp_path):
    settings.DETECTOR_WEIGHTS = str(demo_weights)
    by_demo = VideoFactory(owner=signed_in.user, workflow_state="completed")
    job_create(video=by_demo, options=JobOptions(), enqueue=False)
    real_model()
    by_real = VideoFactory(owner=signed_in.user, workflow_state="completed")
    job_create(video=by_real, options=JobOptions(), enqueue=False)

    assert NOTICE in signed_in.get(f"/videos/{by_demo.pk}/").content.decode()
    assert "Demo model:" not in signed_in.get(f"/videos/{by_real.pk}/").content.decode()
