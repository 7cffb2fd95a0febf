"""What the video page says about a video beyond its raw fields: why it failed in plain words and whether a retry
can help, what a cancelled run kept, the run's confidence floor, its speed, and its stages by name.

The tables here are also handed to the page's script (json_script), so a video that fails while its page is open
reads the same as one rendered failed.
"""

from django.conf import settings

from processing.models import (
    ErrorType,
    JobStatus,
    ProcessingErrorLog,
    ProcessingJob,
    RecoveryStrategy,
    Stage,
    StageStatus,
)
from videos.models import Video, WorkflowState

# Why a run failed, for the person who uploaded the video; codes not listed here carry a message that already
# says it plainly (the probe's "The file has no video stream.", say).
FAILURE_REASONS = {
    "undecodable": "The video could not be decoded: the file is damaged or uses an encoding we cannot read.",
    "not_a_video": "The file is not a video we can read.",
    "unreadable": "The file could not be read as a video.",
    "no_frames": "The video holds no picture we could decode.",
    "out_of_memory": "The server ran out of memory while processing this video.",
    "disk_full": "The server ran out of disk space while processing this video.",
    "model_unavailable": "The detection model could not be loaded.",
    "model_error": "The detection model failed on this video.",
    "timeout": "A connection inside the platform kept timing out.",
    "database_unavailable": "The platform's database could not be reached.",
    "database_error": "The platform's database refused to store the results.",
    "internal_error": "Processing stopped on an unexpected error in the platform.",
    "run_lost": "The worker processing this video stopped answering.",
}

# What a person can do next, per recovery strategy, and whether the Retry button is offered. A retry of a file
# the platform cannot read fails the same way again; the automatic retries of the others ran out, and a person
# retrying later (a freed disk, a restarted service) can succeed.
RECOVERY_ADVICE = {
    RecoveryStrategy.USER_NOTIFICATION: ("Retrying would fail the same way: upload a repaired file.", False),
    RecoveryStrategy.MANUAL_INTERVENTION: ("An administrator has been asked to look; retry once it is fixed.", True),
    RecoveryStrategy.RETRY: ("The automatic retries ran out; you can retry now.", True),
    RecoveryStrategy.IMMEDIATE_RETRY: ("The automatic retries ran out; you can retry now.", True),
    RecoveryStrategy.DELAYED_RETRY: ("The automatic retries ran out; retry once the server has room again.", True),
    RecoveryStrategy.LINEAR_BACKOFF: ("The automatic retries ran out; you can retry now.", True),
}

STAGE_LABELS = dict(Stage.choices)


def recovery_advice_table() -> dict[str, dict]:
    """RECOVERY_ADVICE as the page's script reads it."""
    return {strategy: {"advice": advice, "retry": retry} for strategy, (advice, retry) in RECOVERY_ADVICE.items()}


def failure_reason_text(*, error_code: str, message: str) -> str:
    return FAILURE_REASONS.get(error_code) or message or "Processing failed."


def video_failure_explained(*, video: Video) -> dict | None:
    """For a failed video that was not cancelled: the reason in plain words, what to do, and whether to retry."""
    if video.workflow_state != WorkflowState.FAILED or video.cancelled_at is not None:
        return None
    latest = ProcessingErrorLog.objects.filter(video=video).order_by("-created_at").first()
    if latest is None:
        reason = video.last_error_message or "Processing failed."
        return {"reason": reason, "advice": "", "retry": True, "code": "", "validation": False}
    advice, retry = RECOVERY_ADVICE.get(latest.recovery_strategy, ("", True))
    return {
        "reason": failure_reason_text(error_code=latest.error_code, message=latest.message),
        "advice": advice,
        "retry": retry,
        "code": latest.error_code or latest.error_type,
        "validation": latest.error_type in (ErrorType.VALIDATION, ErrorType.FILE_CORRUPTION),
    }


def job_confidence_floor(*, job: ProcessingJob | None) -> float:
    """The lowest confidence the run kept: asked for, else its model's default when it ran, else today's default."""
    if job is not None:
        if job.confidence is not None:
            return job.confidence
        configured = (job.config or {}).get("confidence")
        if configured is not None:
            return float(configured)
    return settings.DETECTOR_CONFIDENCE


def job_frames_per_second(*, job: ProcessingJob | None) -> float | None:
    """The run's speed as the worker reported it, else its frames over its time when it has both."""
    if job is None:
        return None
    if job.frames_per_second:
        return job.frames_per_second
    if job.processed_frames and job.started_at and job.finished_at:
        seconds = (job.finished_at - job.started_at).total_seconds()
        if seconds > 0:
            return job.processed_frames / seconds
    return None


def _stage_status(stage) -> str:
    # A cancel ends the stages still under way as failed, noting why: they read as cancelled.
    cancelled = stage.status == StageStatus.FAILED and stage.detail == "cancelled"
    return "cancelled" if cancelled else stage.status


def job_stage_rows(*, job: ProcessingJob | None) -> list[dict]:
    """The run's stages with human names; the page's script lays them out on one time axis."""
    if job is None:
        return []
    return [
        {
            "stage": stage.stage,
            "label": STAGE_LABELS.get(stage.stage, stage.stage),
            "status": _stage_status(stage),
            "duration_seconds": stage.duration_seconds,
        }
        for stage in job.stages.all()
    ]


def video_page_facts(*, video: Video, job: ProcessingJob | None) -> dict:
    """Everything the page shows about the video and its latest run beyond their fields."""
    cancelled = None
    if video.workflow_state == WorkflowState.FAILED and video.cancelled_at is not None:
        cancelled = {
            "frames_processed": job.processed_frames if job else 0,
            "detections_kept": job.detections_count if job else 0,
        }
    return {
        "failure": video_failure_explained(video=video),
        "cancelled": cancelled,
        "confidence_floor": job_confidence_floor(job=job),
        "frames_per_second": job_frames_per_second(job=job),
        "stages": job_stage_rows(job=job),
        "current_stage_label": STAGE_LABELS.get(video.current_stage, video.current_stage),
        # Nothing to play before the file is probed, nor when the probe found no picture in it.
        "has_picture": bool(video.width and video.height and video.fps),
        "has_boxes": bool(job and job.detections_count),
        "has_completed_run": video.jobs.filter(status=JobStatus.COMPLETED).exists(),
    }
