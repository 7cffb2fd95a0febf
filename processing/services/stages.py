"""The stage timeline of a job: each stage's status, start, finish and progress."""

from django.utils import timezone

from processing.models import JobStage, ProcessingJob, Stage, StageStatus

NOT_GROUND_TRUTH = "skipped: this run is not the video's ground truth"

PIPELINE_STAGES = [Stage.UPLOAD, Stage.VALIDATION, Stage.EXTRACTION, Stage.INFERENCE, Stage.GROUND_TRUTH]


def stages_initialise(*, job: ProcessingJob, upload_finished_at=None) -> None:
    now = timezone.now()
    rows = []
    for stage in PIPELINE_STAGES:
        row = JobStage(job=job, stage=stage)
        if stage == Stage.UPLOAD:
            row.status, row.progress_percentage = StageStatus.COMPLETED, 100
            row.started_at = row.finished_at = upload_finished_at or now
        elif stage == Stage.GROUND_TRUTH:
            # Completed only when the run is marked or imported as the ground truth (ground_truth_stage_record).
            row.status, row.detail = StageStatus.SKIPPED, NOT_GROUND_TRUTH
        rows.append(row)
    JobStage.objects.bulk_create(rows, ignore_conflicts=True)


def stage_start(*, job_id, stage: str, detail: str = "") -> None:
    now = timezone.now()
    JobStage.objects.filter(job_id=job_id, stage=stage).exclude(status=StageStatus.RUNNING).update(
        status=StageStatus.RUNNING, started_at=now, finished_at=None, detail=detail
    )
    ProcessingJob.objects.filter(pk=job_id).update(current_stage=stage, heartbeat_at=now)


def stage_progress(*, job_id, stages: list[str], percentage: float) -> None:
    JobStage.objects.filter(job_id=job_id, stage__in=stages).update(progress_percentage=round(min(percentage, 100), 2))


def stage_finish(*, job_id, stage: str, status: str = StageStatus.COMPLETED, detail: str = "") -> None:
    updates = {"status": status, "finished_at": timezone.now()}
    if status == StageStatus.COMPLETED:
        updates["progress_percentage"] = 100
    if detail:
        updates["detail"] = detail[:255]
    JobStage.objects.filter(job_id=job_id, stage=stage).update(**updates)


def stages_cancel(*, job_id) -> None:
    """A cancelled run: its stages still waiting or running end here, marked as cancelled."""
    JobStage.objects.filter(job_id=job_id, status__in=[StageStatus.PENDING, StageStatus.RUNNING]).update(
        status=StageStatus.FAILED, finished_at=timezone.now(), detail="cancelled"
    )


def ground_truth_stage_record(*, job_id, detail: str, replaced_job_ids=()) -> None:
    """The run became the video's ground truth: its ground-truth stage is completed; the runs it replaced as the
    ground truth go back to skipped, saying by which run. Call in the transaction that marks it."""
    now = timezone.now()
    updated = JobStage.objects.filter(job_id=job_id, stage=Stage.GROUND_TRUTH).update(
        status=StageStatus.COMPLETED, progress_percentage=100, started_at=now, finished_at=now, detail=detail[:255]
    )
    if not updated:
        JobStage.objects.create(
            job_id=job_id,
            stage=Stage.GROUND_TRUTH,
            status=StageStatus.COMPLETED,
            progress_percentage=100,
            started_at=now,
            finished_at=now,
            detail=detail[:255],
        )
    JobStage.objects.filter(job_id__in=list(replaced_job_ids), stage=Stage.GROUND_TRUTH).update(
        status=StageStatus.SKIPPED, finished_at=now, detail=f"skipped: run {job_id} is now the ground truth"[:255]
    )
