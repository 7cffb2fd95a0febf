"""A model that cannot load or that breaks on a batch: the recovery matrix's model error, never a hang.

Seeds/000 section 5.1: an ML model error is retried at once, twice, then the video fails and is
flagged for review; each attempt leaves an error-log row. The detectors here are real: weights
cut in half, and real weights whose first layer raises when it runs.
"""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from notifications.models import OutboxEvent
from processing.models import ProcessingErrorLog, ProcessingJob
from processing.services.jobs import JobOptions
from processing.services.registry import detector_model_register
from tests import faults
from tests.factories import UserFactory
from tests.processing.running import settle
from tests.videofiles import write_test_video
from videos.models import Video
from videos.services.creation import video_create

pytestmark = pytest.mark.django_db(transaction=True)

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[2] / "processing" / "weights" / "default-detector.pt"


def create_video(tmp_path, **options) -> Video:
    content = write_test_video(tmp_path / "clip.mp4", seconds=1).read_bytes()
    return video_create(
        owner=UserFactory(),
        uploaded_file=SimpleUploadedFile("clip.mp4", content),
        job_options=JobOptions(**options),
        enqueue=False,
    )


def assert_failed_for_review_after_two_immediate_retries(video: Video, *, code: str) -> list[ProcessingErrorLog]:
    settle(ProcessingJob.objects.get(video=video).pk, timeout=120)
    video.refresh_from_db()
    assert video.workflow_state == "failed" and video.needs_review
    errors = list(ProcessingErrorLog.objects.filter(video=video).order_by("created_at"))
    assert [e.system_state["attempt"] for e in errors] == [1, 2, 3], "the first try and two immediate retries"
    assert {(e.error_type, e.error_code, e.recovery_strategy) for e in errors} == {
        ("ml_model_error", code, "immediate_retry")
    }
    kinds = list(OutboxEvent.objects.filter(video=video).order_by("seq").values_list("event_type", flat=True))
    assert kinds.count("error_occurred") == 2 and kinds[-1] == "processing_failed"
    return errors


def test_a_corrupt_model_file_fails_the_video_for_review_and_does_not_refuse_the_upload(tmp_path, settings):
    # Configured before the upload: the default model is registered from DETECTOR_WEIGHTS on first use.
    settings.DETECTOR_WEIGHTS = str(faults.write_corrupt_weights(tmp_path / "cut.pt", source=DEFAULT_WEIGHTS))

    video = create_video(tmp_path)

    errors = assert_failed_for_review_after_two_immediate_retries(video, code="model_unavailable")
    assert "cut.pt could not be loaded" in errors[-1].message
    assert errors[-1].stage == "inference"


def test_a_detector_raising_on_a_batch_fails_the_video_for_review(tmp_path, settings):
    # PyTorch runs the network on each batch (the ONNX path would fail earlier, while exporting it).
    settings.DETECTOR_BACKEND = "torch"
    detector_model_register(
        name="exploding",
        version="1",
        weights_path=str(faults.write_exploding_weights(tmp_path / "exploding.pt")),
        image_size=160,
    )

    video = create_video(tmp_path, model_name="exploding")

    errors = assert_failed_for_review_after_two_immediate_retries(video, code="model_error")
    assert "The model failed on a batch" in errors[-1].message
    assert "to have 16 channels, but got 3 channels" in errors[-1].message
    assert errors[-1].stack_trace and errors[-1].stage == "inference"
