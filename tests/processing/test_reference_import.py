"""Importing reference annotations as a video's ground truth, and evaluating runs against them."""

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditLogEntry
from notifications.models import OutboxEvent
from processing.annotations import AnnotationError
from processing.exports.coco import coco_export
from processing.models import Detection, Evaluation, JobOrigin, JobStage, ProcessingJob
from processing.services.evaluation import evaluation_request, evaluation_run
from processing.services.jobs import JobOptions, JobRefused, job_mark_ground_truth
from processing.services.reference_import import ReferenceTooLarge, reference_import
from tests.factories import ProcessingJobFactory, UserFactory, VideoFactory, add_detections
from tests.processing.running import settle
from tests.videofiles import write_test_video
from videos.services.creation import video_create


def exported_coco(job) -> bytes:
    return b"".join(coco_export(job))


def import_file(video, content: bytes, filename: str = "reference.json", **options) -> ProcessingJob:
    return reference_import(
        video_id=video.pk, reference_file=io.BytesIO(content), filename=filename, actor=video.owner, **options
    )


def evaluate(job) -> Evaluation:
    evaluation = evaluation_request(job_id=job.pk)
    return evaluation_run(evaluation_id=evaluation.pk)


@pytest.fixture
def video(db):
    return VideoFactory(workflow_state="completed", width=200, height=100, fps=10, frame_count=30)


@pytest.fixture
def run(video):
    job = ProcessingJobFactory(video=video, status="completed")
    add_detections(
        job,
        class_names=["box", "disc"],
        rows=[
            (0, 0, 0.9, (10, 10, 50, 50)),
            (0, 1, 0.8, (100, 20, 140, 90)),
            (5, 0, 0.7, (12.345, 11.5, 52.25, 51)),
            (9, 1, 0.6, (0, 0, 200, 100)),
        ],
    )
    return job


@pytest.mark.django_db
def test_a_runs_own_coco_export_imported_as_reference_scores_it_perfectly(video, run):
    reference = import_file(video, exported_coco(run))

    assert reference.origin == JobOrigin.IMPORT and reference.is_ground_truth
    assert reference.status == "completed" and reference.detections_count == 4
    boxes = list(reference.detections.order_by("frame_index", "class_id").values_list("frame_index", "class_name"))
    assert boxes == [(0, "box"), (0, "disc"), (5, "box"), (9, "disc")]
    assert set(reference.detections.values_list("confidence", flat=True)) == {1.0}
    assert reference.config["reference"]["classes"] == {"0": "box", "1": "disc"}

    evaluation = evaluate(run)
    assert evaluation.status == "completed", evaluation.error_message
    assert evaluation.precision == 1.0 and evaluation.recall == 1.0
    assert evaluation.map50 == pytest.approx(1.0)


@pytest.mark.django_db
def test_the_import_is_audited_announced_and_replaces_the_earlier_ground_truth(video, run):
    marked = ProcessingJobFactory(video=video, status="completed")
    job_mark_ground_truth(job_id=marked.pk)

    reference = import_file(video, exported_coco(run))

    marked.refresh_from_db()
    assert not marked.is_ground_truth
    assert list(ProcessingJob.objects.filter(video=video, is_ground_truth=True)) == [reference]
    entry = AuditLogEntry.objects.get(action="job.import_reference")
    assert entry.object_id == str(reference.pk) and entry.actor_id == video.owner.pk
    assert entry.old_values == {"ground_truth_job_ids": [str(marked.pk)]}
    assert entry.new_values["boxes"] == 4 and entry.new_values["format"] == "coco"
    marked_event, event = OutboxEvent.objects.filter(video=video, event_type="ground_truth_generated").order_by("id")
    assert marked_event.payload["data"]["job_id"] == str(marked.pk)
    assert event.payload["data"]["job_id"] == str(reference.pk)
    stage = JobStage.objects.get(job=reference)
    assert (stage.stage, stage.status) == ("ground_truth", "completed")
    replaced = JobStage.objects.get(job=marked, stage="ground_truth")
    assert (replaced.status, replaced.detail) == ("skipped", f"skipped: run {reference.pk} is now the ground truth")


@pytest.mark.django_db
def test_a_bad_file_stores_nothing(video, run, caplog):
    good = json.loads(exported_coco(run))
    good["annotations"][2]["bbox"] = [1, 2, "three", 4]  # the first two boxes are fine
    before = (ProcessingJob.objects.count(), Detection.objects.count(), AuditLogEntry.objects.count())

    with pytest.raises(AnnotationError) as caught:
        import_file(video, json.dumps(good).encode())

    assert caught.value.details["path"] == "annotations[2].bbox"
    assert (ProcessingJob.objects.count(), Detection.objects.count(), AuditLogEntry.objects.count()) == before
    assert not OutboxEvent.objects.filter(event_type="ground_truth_generated").exists()
    assert "reference import for video" in caplog.text and "annotations[2]" in caplog.text


@pytest.mark.django_db
def test_files_that_are_not_text_too_large_or_on_an_unprocessed_video_are_refused(video, settings):
    with pytest.raises(AnnotationError, match="not UTF-8"):
        import_file(video, b"\xff\xfe\x00garbage", filename="gt.txt")
    with pytest.raises(AnnotationError, match="Unknown format"):
        import_file(video, b"1,1,1,1,2,2", file_format="xml")
    settings.REFERENCE_IMPORT_MAX_BYTES = 10
    with pytest.raises(ReferenceTooLarge):
        import_file(video, b"1,1,1,1,2,2,1,1\n" * 2, filename="gt.txt")
    settings.REFERENCE_IMPORT_MAX_BYTES = 1024
    processing = VideoFactory(workflow_state="processing", owner=video.owner)
    with pytest.raises(JobRefused, match="once the video is processed"):
        import_file(processing, b"1,1,1,1,2,2,1,1\n", filename="gt.txt")
    assert not ProcessingJob.objects.filter(origin=JobOrigin.IMPORT).exists()


@pytest.mark.django_db
def test_mot_classes_follow_the_models_numbering_or_the_given_list(video, run):
    # Default: MOT class k is the model's class id k - 1, names taken from the video's runs.
    reference = import_file(video, b"1,7,10,10,40,40,1,1,1\n6,-1,100,20,40,70,1,2,1\n", filename="gt.txt")
    assert sorted(reference.detections.values_list("frame_index", "class_id", "class_name", "track_id")) == [
        (0, 0, "box", 7),
        (5, 1, "disc", None),
    ]
    assert reference.track

    # A given list; names match the model's case-insensitively, unknown ones get fresh ids.
    other = import_file(video, b"1,1,10,10,40,40,1,1\n1,2,60,10,20,20,1,2\n", filename="gt.csv", classes="DISC,person")
    rows = sorted(other.detections.values_list("class_id", "class_name"))
    assert rows == [(1, "disc"), (2, "person")]
    assert other.config["reference"]["classes_unknown_to_the_model"] == ["person"]


@pytest.mark.django_db
def test_imports_are_told_apart_from_runs(video, run):
    reference = import_file(video, exported_coco(run))
    assert set(ProcessingJob.objects.filter(video=video, origin=JobOrigin.RUN)) == {run}
    assert reference.model_name.startswith("Reference (COCO)")
    with pytest.raises(JobRefused, match="ground truth itself"):
        evaluation_request(job_id=reference.pk)


@pytest.mark.django_db(transaction=True)
def test_round_trip_through_a_real_run(tmp_path):
    """The pipeline's own run, exported as COCO and imported as the reference, scores P = R = 1 against it."""
    clip = write_test_video(tmp_path / "clip.mp4", seconds=1, fps=10).read_bytes()
    video = video_create(
        owner=UserFactory(),
        uploaded_file=SimpleUploadedFile("clip.mp4", clip),
        job_options=JobOptions(frame_step=2),
        enqueue=False,
    )
    run = settle(ProcessingJob.objects.get(video=video).pk)
    assert run.status == "completed" and run.detections_count > 0

    reference = import_file(video.__class__.objects.get(pk=video.pk), exported_coco(run))
    assert reference.detections_count == run.detections_count

    # Created directly: evaluation_request would also queue a task for a worker this test does not run.
    evaluation = evaluation_run(evaluation_id=Evaluation.objects.create(job=run, reference_job=reference).pk)
    assert evaluation.status == "completed", evaluation.error_message
    assert (evaluation.precision, evaluation.recall) == (1.0, 1.0)


@pytest.mark.django_db
def test_the_admin_shows_and_filters_by_origin(admin_client, video, run):
    reference = import_file(video, exported_coco(run))
    page = admin_client.get("/admin/processing/processingjob/?origin__exact=import")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Imported reference" in text and str(reference.pk) in text and str(run.pk) not in text
    assert "Detector run" in admin_client.get("/admin/processing/processingjob/").content.decode()
