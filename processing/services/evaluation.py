"""Evaluating a run against the video's ground-truth run with the platform's own metrics."""

import logging

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from processing.evaluation.metrics import PredictedBox, TruthBox, evaluate_detections
from processing.models import Detection, Evaluation, EvaluationStatus, JobStatus, ProcessingJob
from processing.services.jobs import JobRefused

logger = logging.getLogger(__name__)

_BOX_FIELDS = ("frame_index", "class_id", "x1", "y1", "x2", "y2")


def evaluation_request(*, job_id, actor: AbstractBaseUser | None = None, iou_threshold: float = 0.5) -> Evaluation:
    """Queue an evaluation of a completed run against its video's ground-truth run."""
    with transaction.atomic():
        job = ProcessingJob.objects.select_for_update().get(pk=job_id)
        if job.status != JobStatus.COMPLETED:
            raise JobRefused(
                f"Only a completed run can be evaluated; this one is {job.status}.", state=job.status, allowed=[]
            )
        reference = ProcessingJob.objects.filter(video_id=job.video_id, is_ground_truth=True).first()
        if reference is None:
            raise JobRefused(
                "The video has no ground-truth run: mark one with POST /api/v1/jobs/<id>/ground-truth/.",
                state=job.status,
                allowed=["ground-truth"],
            )
        if reference.pk == job.pk:
            raise JobRefused("This run is the ground truth itself.", state=job.status, allowed=[])
        evaluation = Evaluation.objects.create(job=job, reference_job=reference, iou_threshold=iou_threshold)
        audit_record(
            action="evaluation.request",
            obj=evaluation,
            actor=actor,
            new_values={"job_id": str(job.pk), "reference_job_id": str(reference.pk)},
        )
        transaction.on_commit(lambda: _enqueue(evaluation.pk))
    return evaluation


def _enqueue(evaluation_id: int) -> None:
    from processing.tasks import evaluate_run

    evaluate_run.delay(evaluation_id)


def evaluation_run(*, evaluation_id: int) -> Evaluation:
    """Compute the figures and store them; a failure is recorded on the evaluation, not raised."""
    with transaction.atomic():
        evaluation = Evaluation.objects.select_for_update().get(pk=evaluation_id)
        if evaluation.status not in (EvaluationStatus.PENDING, EvaluationStatus.RUNNING):
            return evaluation
        evaluation.status = EvaluationStatus.RUNNING
        evaluation.save(update_fields=["status"])
    try:
        rows = Detection.objects.filter(job_id=evaluation.job_id).values_list(*_BOX_FIELDS, "confidence")
        predictions = [
            PredictedBox(frame_index=f, class_id=c, confidence=conf, x1=x1, y1=y1, x2=x2, y2=y2)
            for f, c, x1, y1, x2, y2, conf in rows.iterator(chunk_size=5000)
        ]
        truth = [
            TruthBox(*row)
            for row in Detection.objects.filter(job_id=evaluation.reference_job_id)
            .values_list(*_BOX_FIELDS)
            .iterator(chunk_size=5000)
        ]
        report = evaluate_detections(
            predictions=predictions, ground_truth=truth, iou_threshold=evaluation.iou_threshold
        ).to_dict()
        names = dict(
            Detection.objects.filter(job_id__in=[evaluation.job_id, evaluation.reference_job_id])
            .values_list("class_id", "class_name")
            .distinct()
        )
        for row in report["per_class"]:
            row["class_name"] = names.get(row["class_id"], str(row["class_id"]))
        fields = {
            "status": EvaluationStatus.COMPLETED,
            "report": report,
            "precision": report["precision"],
            "recall": report["recall"],
            "map50": report["map50"],
            "map50_95": report["map50_95"],
        }
    except Exception as exc:  # recorded for the user; the worker stays up
        logger.exception("evaluation %s failed", evaluation_id)
        fields = {"status": EvaluationStatus.FAILED, "error_message": f"{type(exc).__name__}: {exc}"}
    Evaluation.objects.filter(pk=evaluation_id).update(finished_at=timezone.now(), **fields)
    return Evaluation.objects.get(pk=evaluation_id)
