"""A person's actions on a video's workflow: cancel, retry, archive, and which of them its state allows.

Each runs in one transaction under the video's lock (taken first, before any of its runs'), with
its audit row and event; the runs themselves are the run engine's business (`videos.runs`).
"""

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from audit.services import audit_record
from mediaplatform.service_errors import ServiceError
from mediaplatform.transactions import atomic_retrying_conflicts
from notifications.models import EventType
from notifications.services.events import event_emit
from videos.models import LIVE_STATES, Video, WorkflowState
from videos.runs import video_runs
from videos.services.transitions import video_lock, video_transition

# The `state` of a refusal whose video was deleted meanwhile: answered 410.
DELETED = "deleted"


class WorkflowRefused(ServiceError):
    """The action does not fit the video's (or run's) current state; `allowed` lists what would."""

    def __init__(self, message: str, *, state: str, allowed: list[str]):
        if state == DELETED:
            super().__init__(message, code="gone", status_code=410)
        else:
            super().__init__(
                message,
                code="invalid_transition",
                status_code=409,
                details={"state": state, "allowed_actions": allowed},
            )
        self.state = state
        self.allowed = allowed


def video_allowed_actions(*, video: Video) -> list[str]:
    actions = []
    if video.workflow_state in LIVE_STATES:
        actions.append("cancel")
    if video.workflow_state == WorkflowState.FAILED:
        actions.append("retry")
    if video.workflow_state in (WorkflowState.COMPLETED, WorkflowState.FAILED):
        actions.append("archive")
    if video.workflow_state == WorkflowState.COMPLETED:
        actions.append("run")
    return actions


def video_refuse_if_deleted(video: Video) -> None:
    if video.deleted_at is not None:
        raise WorkflowRefused("This video was deleted.", state=DELETED, allowed=[])


def _refuse(video: Video, message: str) -> WorkflowRefused:
    return WorkflowRefused(message, state=video.workflow_state, allowed=video_allowed_actions(video=video))


@atomic_retrying_conflicts
def video_cancel(*, video_id, actor: AbstractBaseUser | None = None) -> Video:
    """Stop the video's active runs: they end `cancelled` at once and keep the detections they stored.

    A running worker notices at its next step and stops quietly. A live video fails with reason
    `cancelled` and `cancelled_at` set, so it reads as cancelled rather than as a failure.
    """
    video = video_lock(video_id=video_id)
    stopped = video_runs().stop_active(video=video)
    if video.workflow_state not in LIVE_STATES and stopped is None:
        raise _refuse(video, f"A {video.workflow_state} video has nothing to cancel.")
    data = stopped or {
        "error_code": "cancelled",
        "error_message": "cancelled",
        "jobs": [],
        "frames_processed": 0,
        "detections_kept": 0,
    }
    audit_record(action="video.cancel", obj=video, actor=actor, new_values={"jobs": data["jobs"]})
    if video.workflow_state not in LIVE_STATES:
        event_emit(video=video, event_type=EventType.PROCESSING_CANCELLED, data=data)
        return video
    return video_transition(
        video_id=video.pk,
        transition_name="fail",
        actor=actor,
        reason="cancelled",
        event_type=EventType.PROCESSING_CANCELLED,
        event_data=data,
        field_updates={"last_error_message": "cancelled", "cancelled_at": timezone.now()},
    )


@atomic_retrying_conflicts
def video_retry(*, video_id, actor: AbstractBaseUser | None = None):
    """Run a failed video's latest run again; it resumes after the last frame it stored. Returns that run."""
    video = video_lock(video_id=video_id)
    video_refuse_if_deleted(video)
    if video.workflow_state != WorkflowState.FAILED:
        raise _refuse(video, f"Only a failed video can be retried; this one is {video.workflow_state}.")
    run = video_runs().queue_again(video=video, actor=actor)
    audit_record(action="video.retry", obj=video, actor=actor, new_values={"job_id": str(run.pk)})
    return run


@atomic_retrying_conflicts
def video_archive(*, video_id, actor: AbstractBaseUser | None = None) -> Video:
    video = video_lock(video_id=video_id)
    video_refuse_if_deleted(video)
    if video.workflow_state not in (WorkflowState.COMPLETED, WorkflowState.FAILED):
        raise _refuse(video, f"Only a completed or failed video can be archived; this one is {video.workflow_state}.")
    return video_transition(video_id=video.pk, transition_name="archive", actor=actor, reason="archived")
