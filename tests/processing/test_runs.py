"""Runs of the real pipeline: ranges, tracking, reuse, cancel, retry, archive, limits, recovery matrix."""

from contextlib import contextmanager

import psycopg
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError, connection

from notifications.models import OutboxEvent
from processing.models import Detection, JobStatus, ProcessingErrorLog, ProcessingJob
from processing.services.failures import job_handle_failure
from processing.services.jobs import JobOptions
from processing.services.locking import lock_key
from processing.services.pipeline import job_run
from processing.services.sweeps import stuck_jobs_requeue
from tests.factories import ProcessingJobFactory, UserFactory
from tests.processing.running import settle
from tests.videofiles import write_test_video
from videos.models import Video
from videos.services.creation import video_create
from videos.services.workflow import video_cancel

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def clip(tmp_path) -> bytes:
    return write_test_video(tmp_path / "clip.mp4", seconds=2, fps=10).read_bytes()


def create(content: bytes, *, owner=None, **options) -> Video:
    return video_create(
        owner=owner or UserFactory(),
        uploaded_file=SimpleUploadedFile("clip.mp4", content),
        job_options=JobOptions(**options),
        enqueue=False,
    )


def only_job(video: Video) -> ProcessingJob:
    return ProcessingJob.objects.get(video=video)


def test_frame_range_and_max_fps_choose_the_sampled_frames(clip):
    video = create(clip, start_frame=5, end_frame=14, max_fps=5)

    job = settle(only_job(video).pk)

    assert job.status == "completed"
    assert job.total_frames == job.processed_frames == 5
    assert set(Detection.objects.filter(job=job).values_list("frame_index", flat=True)) == {5, 7, 9, 11, 13}


def test_tracking_gives_detections_track_ids(clip, settings, tmp_path):
    tracker = tmp_path / "permissive-bytetrack.yaml"
    tracker.write_text(
        "tracker_type: bytetrack\ntrack_high_thresh: 0.0\ntrack_low_thresh: 0.0\nnew_track_thresh: 0.0\n"
        "track_buffer: 30\nmatch_thresh: 0.8\nfuse_score: True\n"
    )
    settings.DETECTOR_TRACKER = str(tracker)
    video = create(clip, track=True, frame_step=2)

    job = settle(only_job(video).pk)

    assert job.status == "completed"
    tracked = Detection.objects.filter(job=job)
    assert tracked.exists()
    assert not tracked.filter(track_id__isnull=True).exists()


def test_identical_content_reuses_the_earlier_result(clip):
    owner = UserFactory()
    first = settle(only_job(create(clip, owner=owner)).pk)
    second_video = create(clip, owner=owner)

    second = settle(only_job(second_video).pk)

    assert second.reused_from_id == first.pk
    assert second.detections_count == first.detections_count == Detection.objects.filter(job=second).count()
    second_video.refresh_from_db(fields=["objects_detected_count", "width", "codec"])
    assert second_video.workflow_state == "completed"
    assert (second_video.objects_detected_count, second_video.width) == (first.detections_count, 320)
    assert dict(second.stages.values_list("stage", "status"))["inference"] == "skipped"


def test_a_cancel_stops_a_running_job_within_one_batch(clip):
    video = create(clip)
    job = only_job(video)

    def cancel_after_first_batch(progress):
        if progress.processed_frames == 4:
            video_cancel(video_id=video.pk)

    job_run(job_id=job.pk, on_progress=cancel_after_first_batch)

    job.refresh_from_db()
    video = Video.objects.get(pk=video.pk)
    assert job.status == "cancelled"
    assert job.processed_frames == 4, "the batch after the cancel never ran"
    assert (video.workflow_state, video.last_error_message) == ("failed", "cancelled")
    assert not ProcessingErrorLog.objects.filter(video=video).exists()


def test_cancel_retry_and_archive_through_the_api(api_client, clip):
    video = create(clip, owner=api_client.user)
    url = f"/api/v1/videos/{video.pk}"

    cancelled = api_client.post(f"{url}/cancel/")
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "failed"
    assert only_job(video).status == "cancelled"

    retried = api_client.post(f"{url}/retry/")
    assert retried.status_code == 202
    job = only_job(video)
    assert job.retry_count == 1 and job.status != "cancelled"  # a live worker may already be running it
    settle(job.pk)
    assert Video.objects.get(pk=video.pk).workflow_state == "completed"

    again = api_client.post(f"{url}/retry/")
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "invalid_transition"
    assert error["details"] == {"state": "completed", "allowed_actions": ["archive", "run"]}

    assert api_client.post(f"{url}/archive/").json()["state"] == "archived"
    assert api_client.post(f"{url}/cancel/").status_code == 409


def test_another_run_with_other_settings_keeps_the_first(api_client, clip):
    video = create(clip, owner=api_client.user)
    first = settle(only_job(video).pk)

    response = api_client.post(f"/api/v1/videos/{video.pk}/jobs/", {"frame_step": 5}, format="json")
    assert response.status_code == 201, response.content
    second = settle(response.json()["id"])

    assert second.status == "completed" and second.processed_frames == 4
    assert Video.objects.get(pk=video.pk).workflow_state == "completed", "a further run leaves the video's state"
    assert Detection.objects.filter(job=first).count() == first.detections_count
    runs = api_client.get(f"/api/v1/videos/{video.pk}/jobs/").json()
    assert runs["count"] == 2

    marked = api_client.post(f"/api/v1/jobs/{second.pk}/ground-truth/")
    assert marked.status_code == 200 and marked.json()["is_ground_truth"]
    detections = api_client.get(f"/api/v1/videos/{video.pk}/detections/").json()
    assert detections["count"] == second.detections_count
    assert set(row["job_id"] for row in detections["results"]) <= {str(second.pk)}


def test_a_video_beyond_the_duration_limit_is_refused_without_retry(clip, settings):
    settings.VIDEO_MAX_DURATION_SECONDS = 1
    video = create(clip)

    job = settle(only_job(video).pk)

    video = Video.objects.get(pk=video.pk)
    error = ProcessingErrorLog.objects.get(video=video)
    assert (job.status, video.workflow_state) == ("failed", "failed")
    assert (error.error_type, error.error_code, error.recovery_strategy) == (
        "validation_error",
        "too_long",
        "user_notification",
    )
    assert "limit is 1 s" in video.last_error_message


@pytest.mark.parametrize(
    ("exc", "error_type", "retries", "expected_delays"),
    [
        (TimeoutError("broker timed out"), "timeout", 3, [60, 120, 240]),
        (OperationalError("deadlock detected"), "database_error", 10, [5 * n for n in range(1, 11)]),
        (MemoryError("cannot allocate"), "resource_exhaustion", 5, [300] * 5),
    ],
)
def test_the_recovery_matrix_retries_then_fails(exc, error_type, retries, expected_delays):
    job = ProcessingJobFactory(video__workflow_state="processing", status="running", batch_size=16)

    delays = []
    for _attempt in range(retries + 1):
        outcome = job_handle_failure(job_id=job.pk, stage="inference", exc=exc)
        delays.append(outcome.retry_in_seconds)

    assert delays == [*expected_delays, None]
    job.refresh_from_db()
    assert job.status == "failed" and job.error_count == retries + 1
    assert ProcessingErrorLog.objects.filter(job=job, error_type=error_type).count() == retries + 1
    assert Video.objects.get(pk=job.video_id).workflow_state == "failed"
    if error_type == "resource_exhaustion":
        assert job.batch_size == 1, "each delayed retry halves the batch"
    events = list(OutboxEvent.objects.filter(video_id=job.video_id).values_list("event_type", flat=True))
    assert events.count("error_occurred") == retries and events[-1] == "processing_failed"


@contextmanager
def another_worker_running(job_id):
    """A separate database session holding the job's run lock, as a live worker would."""
    params = connection.settings_dict
    with psycopg.connect(
        dbname=params["NAME"],
        user=params["USER"],
        host=params["HOST"],
        port=params["PORT"],
        password=params["PASSWORD"] or None,
        autocommit=True,
    ) as session:
        session.execute("SELECT pg_advisory_lock(%s)", [lock_key(job_id)])
        yield


def test_the_sweep_requeues_a_job_whose_worker_died_but_not_one_still_running():
    dead = ProcessingJobFactory(status="running", video__workflow_state="processing")
    alive = ProcessingJobFactory(status="running", video__workflow_state="processing")
    ProcessingJob.objects.update(heartbeat_at="2000-01-01T00:00:00Z")

    with another_worker_running(alive.pk):
        requeued = stuck_jobs_requeue(stale_after_seconds=60)

    assert requeued == [dead.pk]
    lost = ProcessingErrorLog.objects.get(job=dead)
    assert (lost.error_type, lost.recovery_strategy, lost.error_code) == ("timeout", "retry", "timeout")
    assert "No heartbeat" in lost.message
    assert ProcessingJob.objects.get(pk=alive.pk).status == "running"
    # The requeued job really runs (it has no file, so it fails); let it finish before the test ends.
    assert settle(dead.pk).status == "failed"


def test_a_job_that_keeps_losing_its_worker_fails_after_its_retries():
    job = ProcessingJobFactory(status="running", video__workflow_state="processing")

    for _attempt in range(4):
        ProcessingJob.objects.filter(pk=job.pk).update(status="running", heartbeat_at="2000-01-01T00:00:00Z")
        stuck_jobs_requeue(stale_after_seconds=60)

    job.refresh_from_db()
    assert job.status == "failed" and job.errors.count() == 4
    video = Video.objects.get(pk=job.video_id)
    assert video.workflow_state == "failed" and "No heartbeat" in video.last_error_message


def test_a_job_held_by_another_runner_is_left_alone(clip):
    job = only_job(create(clip))

    with another_worker_running(job.pk):
        assert job_run(job_id=job.pk) is None
        assert ProcessingJob.objects.get(pk=job.pk).status == JobStatus.QUEUED

    assert settle(job.pk).status == "completed"
