"""Runs as a queue: the cross-video run list, priorities, deleting a finished run, usage and storage figures."""

from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditLogEntry, StorageOperation
from processing.metrics import KOMBU_PRIORITY_SEPARATOR, queue_depths_by_priority
from processing.models import BROKER_PRIORITIES, Detection, JobPriority, JobStatus, ProcessingJob
from processing.services.jobs import RunOptionsRefused, job_enqueue, job_options_parse
from tests.factories import ProcessingJobFactory, TokenFactory, UserFactory, VideoFactory, add_detections

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {TokenFactory(user=user).key}")
    return client


@pytest.fixture
def broker():
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.flushdb()
    yield client
    client.flushdb()


def test_priority_is_a_run_option_checked_by_name():
    assert job_options_parse({"priority": "urgent"}).priority == "urgent"
    assert job_options_parse({}).priority == "normal"
    with pytest.raises(RunOptionsRefused) as refused:
        job_options_parse({"priority": "asap"})
    assert refused.value.field == "priority"


def test_a_run_is_sent_with_its_priority_so_urgent_waits_in_the_list_served_first(broker):
    jobs = {priority: ProcessingJobFactory(priority=priority) for priority in JobPriority.values}
    for job in jobs.values():
        job_enqueue(job_id=job.pk)

    depths = queue_depths_by_priority()
    for priority in JobPriority.values:
        assert depths[("inference", priority)] == 1
    # kombu's Redis channel pops the step-0 list (the queue's own name) first: that is where urgent waits.
    assert broker.llen("inference") == 1
    assert BROKER_PRIORITIES[JobPriority.URGENT] == 0
    assert broker.llen(f"inference{KOMBU_PRIORITY_SEPARATOR}{BROKER_PRIORITIES[JobPriority.LOW]}") == 1


def test_the_run_list_spans_videos_and_shows_users_only_their_own():
    owner, other = UserFactory(), UserFactory()
    mine = [ProcessingJobFactory(video=VideoFactory(owner=owner)) for _ in range(3)]
    ProcessingJobFactory(video=VideoFactory(owner=other))

    body = client_for(owner).get("/api/v1/jobs/").json()
    assert {row["id"] for row in body["results"]} == {str(job.pk) for job in mine}

    everyone = client_for(UserFactory(is_staff=True)).get("/api/v1/jobs/").json()
    assert len(everyone["results"]) == 4


def test_the_run_list_filters_combine():
    owner = UserFactory()
    video = VideoFactory(owner=owner)
    wanted = ProcessingJobFactory(video=video, status=JobStatus.COMPLETED, priority="urgent", model_name="m1")
    ProcessingJobFactory(video=video, status=JobStatus.FAILED, priority="urgent", model_name="m1")
    ProcessingJobFactory(video=VideoFactory(owner=owner), status=JobStatus.COMPLETED, model_name="m1")
    ProcessingJobFactory(video=video, status=JobStatus.COMPLETED, model_name="m2")
    client = client_for(owner)

    body = client.get(
        "/api/v1/jobs/",
        {"status": "completed", "priority": "urgent", "model": "m1", "video": str(video.pk), "origin": "run"},
    ).json()
    assert [row["id"] for row in body["results"]] == [str(wanted.pk)]
    assert body["results"][0]["priority"] == "urgent"

    later = timezone.now() + timedelta(minutes=1)
    assert client.get("/api/v1/jobs/", {"created_after": later.isoformat()}).json()["results"] == []


@pytest.mark.parametrize(
    "params",
    [{"status": "sleeping"}, {"priority": "asap"}, {"video": "not-a-uuid"}, {"created_after": "yesterday"}],
)
def test_a_bad_filter_is_a_400_naming_it(params):
    response = client_for(UserFactory()).get("/api/v1/jobs/", params)
    assert response.status_code == 400
    assert next(iter(params)) in response.json()["error"]["details"]


def test_the_run_list_pages_by_cursor_without_repeats():
    owner = UserFactory()
    created = {str(ProcessingJobFactory(video=VideoFactory(owner=owner)).pk) for _ in range(7)}
    client = client_for(owner)

    seen, url = [], "/api/v1/jobs/?per_page=3"
    while url:
        body = client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert len(seen) == 7 and set(seen) == created


def finished_runs(video, count: int = 2) -> list[ProcessingJob]:
    now = timezone.now()
    runs = []
    for minutes in range(count):
        job = ProcessingJobFactory(
            video=video,
            status=JobStatus.COMPLETED,
            started_at=now - timedelta(minutes=10 - minutes),
            finished_at=now - timedelta(minutes=9 - minutes),
            detections_count=2,
        )
        add_detections(job, [(0, 0, 0.9, (1, 1, 5, 5)), (1, 0, 0.8, (2, 2, 6, 6))], class_names=["person"])
        runs.append(job)
    return runs


def test_deleting_an_older_finished_run_removes_it_and_its_boxes_with_an_audit_row():
    owner = UserFactory()
    older, latest = finished_runs(VideoFactory(owner=owner, workflow_state="completed"))

    response = client_for(owner).delete(f"/api/v1/jobs/{older.pk}/")

    assert response.status_code == 204
    assert not ProcessingJob.objects.filter(pk=older.pk).exists()
    assert not Detection.objects.filter(job_id=older.pk).exists()
    assert Detection.objects.filter(job_id=latest.pk).count() == 2
    entry = AuditLogEntry.objects.get(action="job.delete")
    assert entry.object_id == str(older.pk)
    assert entry.new_values == {"detections_deleted": 2}


def test_the_run_holding_the_results_the_ground_truth_or_an_active_run_is_not_deleted():
    owner = UserFactory()
    video = VideoFactory(owner=owner, workflow_state="completed")
    older, latest = finished_runs(video)
    client = client_for(owner)

    refused = client.delete(f"/api/v1/jobs/{latest.pk}/")
    assert refused.status_code == 409
    assert "results" in refused.json()["error"]["message"]

    older.is_ground_truth = True
    older.save()
    assert client.delete(f"/api/v1/jobs/{older.pk}/").status_code == 409

    running = ProcessingJobFactory(video=VideoFactory(owner=owner), status=JobStatus.RUNNING)
    response = client.delete(f"/api/v1/jobs/{running.pk}/")
    assert response.status_code == 409
    assert response.json()["error"]["details"]["allowed_actions"] == ["cancel"]
    assert ProcessingJob.objects.filter(pk__in=[older.pk, latest.pk, running.pk]).count() == 3


def test_another_users_run_is_not_found_and_a_viewer_cannot_delete():
    owner = UserFactory()
    older, _latest = finished_runs(VideoFactory(owner=owner, workflow_state="completed"))

    assert client_for(UserFactory()).delete(f"/api/v1/jobs/{older.pk}/").status_code == 404
    assert ProcessingJob.objects.filter(pk=older.pk).exists()


def test_a_waiting_runs_new_priority_is_sent_again_at_once(broker, django_capture_on_commit_callbacks):
    owner = UserFactory()
    job = ProcessingJobFactory(video=VideoFactory(owner=owner), status=JobStatus.QUEUED)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(owner).patch(f"/api/v1/jobs/{job.pk}/", {"priority": "urgent"}, format="json")

    assert response.status_code == 200
    assert response.json()["priority"] == "urgent"
    assert queue_depths_by_priority()[("inference", "urgent")] == 1
    entry = AuditLogEntry.objects.get(action="job.set_priority")
    assert (entry.old_values, entry.new_values) == ({"priority": "normal"}, {"priority": "urgent"})


def test_a_bad_priority_is_a_400():
    owner = UserFactory()
    job = ProcessingJobFactory(video=VideoFactory(owner=owner))
    response = client_for(owner).patch(f"/api/v1/jobs/{job.pk}/", {"priority": "now!"}, format="json")
    assert response.status_code == 400
    assert "priority" in response.json()["error"]["details"]


def test_usage_sums_videos_bytes_processing_seconds_and_detections_in_the_range():
    owner = UserFactory()
    video = VideoFactory(owner=owner, workflow_state="completed", size_bytes=1000)
    VideoFactory(owner=owner, size_bytes=500)
    VideoFactory(owner=UserFactory(), size_bytes=7)
    finished_runs(video)

    client = client_for(owner)
    body = client.get("/api/v1/usage/").json()
    assert body["videos"] == 2
    assert body["bytes_stored"] == 1500
    assert body["runs"] == 2
    assert body["processing_seconds"] == pytest.approx(120.0)
    assert body["detections"] == 4

    future = (timezone.now() + timedelta(hours=1)).isoformat()
    empty = client.get("/api/v1/usage/", {"since": future}).json()
    assert (empty["videos"], empty["runs"], empty["detections"]) == (0, 0, 0)


def test_usage_of_every_user_and_storage_figures_are_for_staff_only():
    owner = UserFactory(username="alice")
    VideoFactory(owner=owner, size_bytes=10, workflow_state="failed")
    StorageOperation.objects.create(operation="upload", path="a.mp4", duration_ms=900, success=False)
    StorageOperation.objects.create(operation="delete", path="b.mp4", duration_ms=5)

    client = client_for(owner)
    assert client.get("/api/v1/usage/users/").status_code == 403
    assert client.get("/api/v1/storage/statistics/").status_code == 403

    staff = client_for(UserFactory(is_staff=True))
    rows = {row["username"]: row for row in staff.get("/api/v1/usage/users/").json()}
    assert rows["alice"]["bytes_stored"] == 10
    stats = staff.get("/api/v1/storage/statistics/").json()
    assert {"state": "failed", "videos": 1, "bytes": 10} in stats["by_state"]
    assert stats["failed_operations"] == 1
    assert stats["failed_by_operation"] == {"upload": 1}
    assert stats["slowest_operations"][0]["path"] == "a.mp4"


def test_metrics_show_queue_depth_and_waiting_runs_per_priority(client, broker, settings):
    settings.METRICS_PUBLIC = True
    job = ProcessingJobFactory(status=JobStatus.QUEUED, priority="high")
    job_enqueue(job_id=job.pk)

    text = client.get("/metrics").content.decode()

    assert 'mediaplatform_queue_depth_by_priority{priority="high",queue="inference"} 1.0' in text
    assert 'mediaplatform_jobs_waiting{priority="high"} 1.0' in text
    assert 'mediaplatform_queue_depth{queue="inference"} 1.0' in text


def test_staff_see_usage_and_storage_in_the_admin(client):
    VideoFactory(owner=UserFactory(username="bob"), size_bytes=2048, workflow_state="completed")
    StorageOperation.objects.create(operation="upload", path="slow.mp4", duration_ms=1500, size_bytes=2048)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    listing = client.get("/admin/processing/processingjob/")
    assert b"Usage and storage" in listing.content
    page = client.get("/admin/processing/processingjob/usage/", {"since": "2000-01-01T00:00"})

    assert page.status_code == 200
    text = page.content.decode()
    assert "bob" in text and "2.0\xa0KB" in text and "slow.mp4" in text
    refused = client.get("/admin/processing/processingjob/usage/", {"since": "tomorrow"})
    assert "since" in refused.content.decode()
