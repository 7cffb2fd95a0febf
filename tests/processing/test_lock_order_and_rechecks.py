"""The worker and the API under each other's feet: one lock order, and state re-read under the locks.

Each test puts an API action (cancel, delete, retry) between two steps of a real run, at the
moment the worker would otherwise act on what it read before: the run must stop quietly, keep
what it stored, and leave its video neither live nor moved backwards.
"""

import re
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from mediaplatform.transactions import atomic_retrying_conflicts
from notifications.models import OutboxEvent
from processing.models import Detection, JobStatus, ProcessingErrorLog, ProcessingJob
from processing.services.failures import job_handle_failure
from processing.services.jobs import JobOptions, job_mark_ground_truth
from processing.services.pipeline import JobRunner, job_run
from tests.factories import UserFactory, VideoFactory
from tests.processing.running import settle
from tests.videofiles import write_test_video
from videos.models import Video, VideoStateTransition
from videos.services.creation import VideoRejected, video_create
from videos.services.deletion import video_soft_delete
from videos.services.workflow import video_cancel, video_retry

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def clip(tmp_path) -> bytes:
    return write_test_video(tmp_path / "clip.mp4", seconds=2, fps=10).read_bytes()


def create(content: bytes, *, owner=None, **options) -> Video:
    return video_create(
        owner=owner or UserFactory(),
        uploaded_file=SimpleUploadedFile("clip.mp4", content),
        job_options=JobOptions(batch_size=4, **options),
        enqueue=False,
    )


def runner_with(job: ProcessingJob, *, after: str, action) -> JobRunner:
    """A real runner that performs `action` right after its step `after` returns."""
    runner = JobRunner(ProcessingJob.objects.select_related("detector_model").get(pk=job.pk))
    step = getattr(runner, after)

    def step_then_act(*args, **kwargs):
        result = step(*args, **kwargs)
        action()
        return result

    setattr(runner, after, step_then_act)
    return runner


def states_visited(video: Video) -> list[str]:
    return list(VideoStateTransition.objects.filter(video=video).order_by("id").values_list("to_state", flat=True))


def assert_stopped_quietly(video: Video, job: ProcessingJob) -> None:
    video.refresh_from_db()
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert video.workflow_state == "failed" and video.cancelled_at is not None
    assert not ProcessingErrorLog.objects.filter(video=video).exists(), "a stop is not an error"
    assert states_visited(video)[-1] == "failed", "nothing moved the video after its cancel"
    assert OutboxEvent.objects.filter(video=video, event_type="processing_cancelled").count() == 1


@pytest.mark.parametrize("after", ["_start", "_validate", "_start_inference"])
def test_a_cancel_between_steps_stops_the_run_and_never_moves_the_video_back(clip, after):
    video = create(clip)
    job = ProcessingJob.objects.get(video=video)

    runner_with(job, after=after, action=lambda: video_cancel(video_id=video.pk)).run()

    assert_stopped_quietly(video, job)
    assert "processing" not in states_visited(video)[states_visited(video).index("failed") :]


def test_a_delete_during_validation_leaves_the_deleted_video_cancelled_not_live(clip):
    video = create(clip)
    job = ProcessingJob.objects.get(video=video)

    runner_with(job, after="_validate", action=lambda: video_soft_delete(video_id=video.pk)).run()

    assert_stopped_quietly(video, job)
    assert video.deleted_at is not None


def test_a_cancel_during_validation_on_the_reuse_path_records_no_internal_error(clip):
    owner = UserFactory()
    settle(ProcessingJob.objects.get(video=create(clip, owner=owner)).pk)
    video = create(clip, owner=owner)
    job = ProcessingJob.objects.get(video=video)

    runner_with(job, after="_start", action=lambda: video_cancel(video_id=video.pk)).run()

    assert_stopped_quietly(video, job)
    assert not Detection.objects.filter(job=job).exists()


def test_a_cancel_keeps_the_batches_already_stored(clip):
    video = create(clip)
    job = ProcessingJob.objects.get(video=video)

    def cancel_after_two_batches(progress):
        if progress.processed_frames == 8:
            video_cancel(video_id=video.pk)

    job_run(job_id=job.pk, on_progress=cancel_after_two_batches)

    assert_stopped_quietly(video, job)
    assert job.processed_frames == 8
    assert Detection.objects.filter(job=job).count() == job.detections_count > 0
    assert set(Detection.objects.filter(job=job).values_list("frame_index", flat=True)) <= set(range(8))


def test_a_retry_while_the_cancelled_run_is_still_stopping_belongs_to_the_new_attempt(clip):
    video = create(clip)
    job = ProcessingJob.objects.get(video=video)

    def cancel_and_retry_before_the_runner_notices(progress):
        if progress.processed_frames == 4:
            video_cancel(video_id=video.pk)
            video_retry(video_id=video.pk)

    job_run(job_id=job.pk, on_progress=cancel_and_retry_before_the_runner_notices)

    job.refresh_from_db()
    assert (job.status, job.retry_count) == (JobStatus.QUEUED, 1), "the old attempt left the new one alone"
    assert Video.objects.get(pk=video.pk).workflow_state == "failed"
    settle(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and job.processed_frames == job.total_frames == 20
    assert Video.objects.get(pk=video.pk).workflow_state == "completed"
    assert Detection.objects.filter(job=job).values("frame_index").distinct().count() <= 20
    assert not ProcessingErrorLog.objects.filter(video=video).exists()


def test_a_failure_of_a_cancelled_run_is_not_recorded_as_an_error(clip):
    video = create(clip)
    job = ProcessingJob.objects.get(video=video)
    JobRunner(ProcessingJob.objects.get(pk=job.pk))._start()
    video_cancel(video_id=video.pk)

    outcome = job_handle_failure(job_id=job.pk, stage="inference", exc=RuntimeError("decoder crashed"))

    assert (outcome.error, outcome.retry_in_seconds) == (None, None)
    assert_stopped_quietly(video, job)


def test_deleted_videos_do_not_count_towards_the_in_flight_limit(clip, settings):
    settings.VIDEO_MAX_IN_FLIGHT_PER_USER = 1
    owner = UserFactory()
    VideoFactory(owner=owner, workflow_state="processing", deleted_at="2026-01-01T00:00:00Z")

    create(clip, owner=owner)

    with pytest.raises(VideoRejected):
        create(clip, owner=owner)


# -- lock order ---------------------------------------------------------------------------------

LOCKING = re.compile(r'^(SELECT .* FROM "(\w+)".* FOR (?:NO KEY )?UPDATE|UPDATE "(\w+)")', re.S)


def tables_in_lock_order(queries) -> list[str]:
    """The tables whose rows each statement locks (SELECT ... FOR UPDATE and UPDATE), first lock of each."""
    order = []
    for query in queries:
        sql = query["sql"]
        match = LOCKING.match(sql)
        if match is None:
            if sql.startswith("UPDATE videos_video SET last_event_seq"):
                table = "videos_video"  # the event outbox's raw UPDATE of the video's sequence
            else:
                continue
        else:
            table = match.group(2) or match.group(3)
        if table in ("videos_video", "processing_processingjob") and table not in order:
            order.append(table)
    return order


def locks_taken_by(action) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        action()
    return tables_in_lock_order(queries.captured_queries)


def test_every_service_locks_the_video_before_its_jobs(clip):
    video = create(clip)
    job = ProcessingJob.objects.get(video=video)
    runner = JobRunner(ProcessingJob.objects.select_related("detector_model").get(pk=job.pk))
    video_first = ["videos_video", "processing_processingjob"]

    assert locks_taken_by(runner._start) == video_first
    probe = runner._validate()
    assert locks_taken_by(lambda: runner._start_inference(probe))[0] == "videos_video"
    runner.last_report = 0
    runner.monitor = type("Idle", (), {"peak_memory_mb": 0, "cpu_percent": 0, "gpu_memory_mb": None})()
    assert locks_taken_by(runner._report_progress)[0] == "videos_video"
    assert locks_taken_by(runner._complete) == video_first
    assert locks_taken_by(lambda: job_mark_ground_truth(job_id=job.pk)) == video_first

    second = create(clip)
    failing = ProcessingJob.objects.get(video=second)
    JobRunner(ProcessingJob.objects.get(pk=failing.pk))._start()
    assert (
        locks_taken_by(lambda: job_handle_failure(job_id=failing.pk, stage="inference", exc=TimeoutError("slow")))
        == video_first
    )
    assert locks_taken_by(lambda: video_cancel(video_id=second.pk)) == video_first


# -- a deadlock that still happens is run again ----------------------------------------------------


def test_a_deadlock_victim_is_run_again_inside_the_service():
    first, second = VideoFactory(), VideoFactory()
    both_hold_their_first = threading.Barrier(2, timeout=10)
    attempts = {"a": 0, "b": 0}
    errors = []

    def lock_in_order(name, one, other):
        @atomic_retrying_conflicts
        def lock_both():
            attempts[name] += 1
            Video.objects.select_for_update().get(pk=one.pk)
            if attempts[name] == 1:
                both_hold_their_first.wait()  # only the first attempts cross: a real deadlock
            Video.objects.select_for_update().get(pk=other.pk)

        try:
            lock_both()
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=lock_in_order, args=("a", first, second)),
        threading.Thread(target=lock_in_order, args=("b", second, first)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert sorted(attempts.values()) == [1, 2], "PostgreSQL aborted one of them, which then ran again"


def test_nested_in_an_outer_transaction_it_leaves_the_retry_to_the_outer_owner():
    calls = []

    @atomic_retrying_conflicts
    def inner():
        calls.append(connection.in_atomic_block)

    with transaction.atomic():
        inner()
    assert calls == [True]


def test_a_cancel_says_cancelled_in_the_api_the_events_and_the_pages(api_client, client, clip):
    video = create(clip, owner=api_client.user)
    job = ProcessingJob.objects.get(video=video)

    def cancel_through_the_api(progress):
        if progress.processed_frames == 4:
            assert api_client.post(f"/api/v1/videos/{video.pk}/cancel/").status_code == 200

    job_run(job_id=job.pk, on_progress=cancel_through_the_api)

    detail = api_client.get(f"/api/v1/videos/{video.pk}/").json()
    assert detail["state"] == "failed" and detail["cancelled_at"] is not None
    assert detail["latest_job"]["status"] == "cancelled"
    assert detail["latest_job"]["processed_frames"] == 4 and detail["latest_job"]["detections_count"] > 0
    listed = api_client.get("/api/v1/videos/").json()["results"][0]
    assert (listed["id"], listed["cancelled_at"]) == (str(video.pk), detail["cancelled_at"])
    event = OutboxEvent.objects.get(video=video, event_type="processing_cancelled")
    assert event.payload["data"]["detections_kept"] == detail["latest_job"]["detections_count"]
    assert event.payload["data"]["frames_processed"] == 4

    client.force_login(api_client.user)
    for page in ("/", f"/videos/{video.pk}/"):
        html = client.get(page).content.decode()
        assert 'class="badge state-cancelled">cancelled<' in html, page
