"""A run's own classes and confidence: stored, honoured by the real pipeline, and part of what reuse compares."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from processing.models import Detection, ProcessingJob
from processing.services.jobs import RunOptionsRefused, job_options_parse
from tests.factories import UserFactory
from tests.processing.running import settle
from tests.videofiles import write_test_video
from videos.services.creation import video_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_default(settings):
    """The bundled demo model as the default: registered from DETECTOR_WEIGHTS on first use."""
    settings.DETECTOR_WEIGHTS = str(Path(settings.BASE_DIR) / "processing" / "weights" / "default-detector.pt")


@pytest.fixture
def clip(tmp_path) -> bytes:
    return write_test_video(tmp_path / "clip.mp4", seconds=2, fps=10).read_bytes()


def run(content: bytes, *, owner, **options) -> ProcessingJob:
    video = video_create(
        owner=owner, uploaded_file=SimpleUploadedFile("clip.mp4", content), job_options=options, enqueue=False
    )
    return settle(ProcessingJob.objects.get(video=video).pk)


def test_the_pipeline_keeps_only_the_chosen_classes_above_the_chosen_confidence(clip):
    owner = UserFactory()
    everything = run(clip, owner=owner, frame_step=2)
    found = list(Detection.objects.filter(job=everything).values_list("class_name", "confidence"))
    assert everything.classes == [] and everything.confidence is not None
    # The class seen most often, and a threshold that keeps some of its boxes but not all.
    names = [name for name, _ in found]
    chosen = max(set(names), key=names.count)
    scores = sorted({score for name, score in found if name == chosen})
    assert len(scores) >= 2, found
    # Halfway between two stored scores, so float rounding cannot move a box across the threshold.
    middle = len(scores) // 2
    threshold = (scores[middle - 1] + scores[middle]) / 2
    expected = sum(1 for name, score in found if name == chosen and score >= threshold)
    assert 0 < expected < len(found)

    filtered = run(clip, owner=owner, frame_step=2, classes=[chosen], confidence=threshold)

    assert filtered.status == "completed"
    assert filtered.reused_from_id is None  # other options: a run of its own
    assert filtered.classes == [chosen]
    assert filtered.confidence == pytest.approx(threshold)
    kept = Detection.objects.filter(job=filtered)
    assert set(kept.values_list("class_name", flat=True)) == {chosen}
    assert min(kept.values_list("confidence", flat=True)) >= threshold
    # Same network, same frames: the boxes kept are the earlier run's boxes of that class above the threshold.
    assert kept.count() == expected


def test_only_an_identical_request_reuses_results(clip):
    owner = UserFactory()
    first = run(clip, owner=owner, frame_step=3, classes=["ring", "box"], confidence=0.3)

    same = run(clip, owner=owner, frame_step=3, classes="box,ring", confidence="0.3")
    other_classes = run(clip, owner=owner, frame_step=3, classes=["ring"], confidence=0.3)
    other_confidence = run(clip, owner=owner, frame_step=3, classes=["ring", "box"], confidence=0.4)

    assert same.reused_from_id == first.pk
    assert same.detections_count == first.detections_count
    assert other_classes.reused_from_id is None
    assert other_confidence.reused_from_id is None


@pytest.mark.parametrize(
    "options, field",
    [
        ({"classes": ["ring", "person", "car"]}, "classes"),
        ({"confidence": 0}, "confidence"),
        ({"confidence": 1.5}, "confidence"),
        ({"confidence": "high"}, "confidence"),
        ({"frame_step": 0}, "frame_step"),
        ({"start_frame": 9, "end_frame": 3}, "end_frame"),
        ({"max_fps": -1}, "max_fps"),
        ({"track": "maybe"}, "track"),
        ({"model": "no-such-model"}, "model"),
        ({"classes": [1, 2]}, "classes"),
    ],
)
def test_bad_options_are_refused_naming_the_field(demo_default, options, field):
    with pytest.raises(RunOptionsRefused) as refused:
        job_options_parse(options)
    assert refused.value.status_code == 400
    assert field in refused.value.details


def test_unknown_classes_are_named(demo_default):
    with pytest.raises(RunOptionsRefused) as refused:
        job_options_parse({"classes": "ring, person,car"})
    assert refused.value.details["unknown_classes"] == ["car", "person"]
    assert "car, person" in refused.value.message
