"""The real pipeline (PyAV decoding, ultralytics inference, COPY storage) run in-process."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from notifications.models import OutboxEvent, OutboxStatus
from processing.models import Detection, ProcessingErrorLog, ProcessingJob
from processing.services.pipeline import job_run
from tests.factories import UserFactory
from tests.processing.running import settle
from tests.videofiles import write_test_video
from videos.models import Video
from videos.services.creation import video_create

pytestmark = pytest.mark.django_db(transaction=True)


def create_video(content: bytes, *, name: str = "clip.mp4", frame_step: int = 1) -> Video:
    # Not queued: the test runs the job itself (a live worker of another test would race it otherwise).
    return video_create(
        owner=UserFactory(), uploaded_file=SimpleUploadedFile(name, content), frame_step=frame_step, enqueue=False
    )


def run_latest_job(video: Video) -> ProcessingJob:
    return settle(ProcessingJob.objects.get(video=video).pk)


def test_a_video_is_validated_detected_stored_and_completed(tmp_path):
    path = write_test_video(tmp_path / "clip.mp4", seconds=3, fps=10, width=320, height=240)
    video = create_video(path.read_bytes(), frame_step=2)

    job = run_latest_job(video)
    video = Video.objects.get(pk=video.pk)

    assert video.workflow_state == "completed"
    assert (video.width, video.height, video.frame_count, video.codec) == (320, 240, 30, "h264")
    assert video.fps == pytest.approx(10)
    assert video.duration_seconds == pytest.approx(3, abs=0.2)
    assert job.status == "completed"
    assert job.processed_frames == job.total_frames == 15
    stages = dict(job.stages.values_list("stage", "status"))
    assert stages == {
        "upload": "completed",
        "validation": "completed",
        "extraction": "completed",
        "inference": "completed",
        "ground_truth": "skipped",
    }
    assert all(stage.duration_seconds is not None for stage in job.stages.exclude(status="skipped"))
    assert job.peak_memory_mb > 0 and job.cpu_percent > 0 and job.processing_node_id
    detections = Detection.objects.filter(job=job)
    assert detections.count() == job.detections_count == video.objects_detected_count > 0
    assert set(detections.values_list("frame_index", flat=True)) <= set(range(0, 30, 2))
    box = detections.first()
    assert 0 <= box.x1 <= box.x2 <= 320 and 0 <= box.y1 <= box.y2 <= 240
    assert float(video.progress_percentage) == 100.0

    events = list(OutboxEvent.objects.filter(video=video).order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    kinds = [e.event_type for e in events]
    assert kinds[:3] == ["upload_started", "upload_completed", "processing_started"]
    assert kinds[-1] == "processing_completed"
    assert set(kinds[3:-1]) == {"processing_progress"}
    assert all(e.status == OutboxStatus.SENT for e in events)
    assert events[-1].payload["data"]["objects_detected"] == video.objects_detected_count


def test_a_truncated_video_fails_with_a_readable_reason(tmp_path):
    content = write_test_video(tmp_path / "clip.mp4", seconds=2).read_bytes()
    video = create_video(content[: len(content) // 2])

    job = run_latest_job(video)
    video = Video.objects.get(pk=video.pk)

    assert video.workflow_state == "failed"
    assert "not a decodable video" in video.last_error_message
    assert job.status == "failed"
    error = ProcessingErrorLog.objects.get(video=video)
    assert (error.stage, error.error_type, error.recovery_strategy) == (
        "validation",
        "file_corruption",
        "user_notification",
    )
    assert error.stack_trace
    last = OutboxEvent.objects.filter(video=video).order_by("-seq").first()
    assert last.event_type == "processing_failed"
    assert last.payload["data"]["error_message"] == video.last_error_message


def test_missing_model_weights_fail_the_video_for_manual_review(tmp_path, settings):
    video = create_video(write_test_video(tmp_path / "clip.mp4", seconds=1).read_bytes())
    settings.DETECTOR_WEIGHTS = str(tmp_path / "absent.pt")

    run_latest_job(video)

    video = Video.objects.get(pk=video.pk)
    assert video.workflow_state == "failed"
    assert video.needs_review
    errors = ProcessingErrorLog.objects.filter(video=video).order_by("created_at")
    assert [e.system_state["attempt"] for e in errors] == [1, 2, 3], "the first try and two immediate retries"
    assert {(e.error_type, e.recovery_strategy, e.stage) for e in errors} == {
        ("ml_model_error", "immediate_retry", "inference")
    }
    assert "absent.pt" in errors.last().message
    kinds = list(OutboxEvent.objects.filter(video=video).order_by("seq").values_list("event_type", flat=True))
    assert kinds.count("error_occurred") == 2
    assert kinds[-1] == "processing_failed"


def test_a_redelivered_job_is_not_run_twice(tmp_path):
    video = create_video(write_test_video(tmp_path / "clip.mp4", seconds=1).read_bytes())
    job = run_latest_job(video)
    stored = Detection.objects.filter(job=job).count()
    events = OutboxEvent.objects.filter(video=video).count()

    job_run(job_id=job.pk)

    assert Detection.objects.filter(job=job).count() == stored
    assert OutboxEvent.objects.filter(video=video).count() == events


def test_a_job_killed_mid_run_resumes_after_its_last_stored_batch(tmp_path):
    video = create_video(write_test_video(tmp_path / "clip.mp4", seconds=2).read_bytes())
    job = run_latest_job(video)
    undisturbed = list(Detection.objects.filter(job=job).values_list("frame_index", "class_id", "confidence"))
    # What a worker killed after committing the batch of frames 8-11 leaves behind:
    # the resume point at 12, the rows before it, a running job, a processing video.
    resume_at = 12
    Detection.objects.filter(job=job, frame_index__gte=resume_at).delete()
    kept = Detection.objects.filter(job=job).count()
    ProcessingJob.objects.filter(pk=job.pk).update(
        status="running", next_frame_index=resume_at, processed_frames=resume_at, detections_count=kept
    )
    Video.objects.filter(pk=video.pk).update(workflow_state="processing")

    job_run(job_id=job.pk)

    job = ProcessingJob.objects.get(pk=job.pk)
    assert Video.objects.get(pk=video.pk).workflow_state == "completed"
    resumed = list(Detection.objects.filter(job=job).values_list("frame_index", "class_id", "confidence"))
    assert sorted(row[:2] for row in resumed) == sorted(row[:2] for row in undisturbed)
    assert sorted(r[2] for r in resumed) == pytest.approx(sorted(r[2] for r in undisturbed), rel=1e-4)
    assert job.processed_frames == 20 and job.detections_count == len(undisturbed)
    seqs = list(OutboxEvent.objects.filter(video=video).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
