"""The ground-truth stage of a run: completed once the run is marked (or imported) as the ground truth."""

import pytest

from notifications.models import OutboxEvent
from processing.models import JobStage, JobStatus, ProcessingJob
from processing.services.jobs import JobOptions, JobRefused, job_create, job_mark_ground_truth
from processing.services.stages import NOT_GROUND_TRUTH
from tests.factories import VideoFactory

pytestmark = pytest.mark.django_db


def ground_truth_stage(job) -> JobStage:
    return JobStage.objects.get(job=job, stage="ground_truth")


def finished_run(video) -> ProcessingJob:
    job = job_create(video=video, options=JobOptions(), enqueue=False)
    ProcessingJob.objects.filter(pk=job.pk).update(status=JobStatus.COMPLETED)
    return job


def test_a_run_starts_with_its_ground_truth_stage_skipped_saying_why():
    job = job_create(video=VideoFactory(workflow_state="uploaded"), options=JobOptions(), enqueue=False)

    stage = ground_truth_stage(job)

    assert (stage.status, stage.detail) == ("skipped", NOT_GROUND_TRUTH)


def test_marking_a_run_completes_its_stage_and_announces_it():
    video = VideoFactory(workflow_state="completed")
    first, second = finished_run(video), finished_run(video)

    job_mark_ground_truth(job_id=first.pk, actor=video.owner)

    stage = ground_truth_stage(first)
    assert (stage.status, stage.progress_percentage, stage.detail) == ("completed", 100, "marked as the ground truth")
    assert stage.finished_at is not None
    event = OutboxEvent.objects.get(video=video, event_type="ground_truth_generated")
    assert event.payload["data"]["job_id"] == str(first.pk) and event.payload["data"]["replaced_job_ids"] == []
    assert ground_truth_stage(second).status == "skipped"

    job_mark_ground_truth(job_id=second.pk, actor=video.owner)

    assert ground_truth_stage(second).status == "completed"
    replaced = ground_truth_stage(first)
    assert (replaced.status, replaced.detail) == ("skipped", f"skipped: run {second.pk} is now the ground truth")
    latest = OutboxEvent.objects.filter(video=video, event_type="ground_truth_generated").order_by("id").last()
    assert latest.payload["data"]["replaced_job_ids"] == [str(first.pk)]


def test_an_unfinished_run_is_refused_and_nothing_is_announced():
    job = job_create(video=VideoFactory(workflow_state="processing"), options=JobOptions(), enqueue=False)

    with pytest.raises(JobRefused):
        job_mark_ground_truth(job_id=job.pk)

    assert ground_truth_stage(job).status == "skipped"
    assert not OutboxEvent.objects.filter(event_type="ground_truth_generated").exists()
