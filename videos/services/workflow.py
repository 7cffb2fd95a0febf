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


TITLE_MAX_LENGTH = Video._meta.get_field("title").max_length


@atomic_retrying_conflicts
def video_rename(*, video_id, title: str, actor: AbstractBaseUser | None = None) -> Video:
    """Give the video a new title (blank: it goes by its file name again), with its audit row."""
    title = title.strip()
    if len(title) > TITLE_MAX_LENGTH:
        raise ServiceError(f"A title has at most {TITLE_MAX_LENGTH} characters.", details={"field": "title"})
    video = video_lock(video_id=video_id)
    video_refuse_if_deleted(video)
    if video.title != title:
        audit_record(
            action="video.rename",
            obj=video,
            actor=actor,
            old_values={"title": video.title},
            new_values={"title": title},
        )
        video.title = title
        video.save(update_fields=["title", "updated_at"])
    return video


BULK_ACTIONS = ("archive", "retry", "delete")
BULK_MAX_VIDEOS = 100


def videos_bulk_apply(*, video_ids: list, action: str, actor: AbstractBaseUser) -> list[dict]:
    """One action on several videos, each in its own transaction: one refusal leaves the others done.

    The videos are the ids the actor may see (their own; any for staff); another user's id reads as not
    found, as one that never existed. Returns one result per id, in the order given: `ok`, the HTTP
    status the single-video endpoint would have answered, and the refusal's code and message.
    """
    # Deletion cancels through this module, so it is imported here rather than at the top.
    from videos.selectors import video_visibility
    from videos.services.deletion import video_soft_delete

    if action not in BULK_ACTIONS:
        raise ServiceError(f"action must be one of {', '.join(BULK_ACTIONS)}.", details={"field": "action"})
    services = {"archive": video_archive, "retry": video_retry, "delete": video_soft_delete}
    results = []
    for video_id in dict.fromkeys(video_ids):  # a repeated id is acted on once
        result = {"id": str(video_id), "ok": False, "status": 404, "code": "not_found", "message": "No such video."}
        visibility = video_visibility(user=actor, video_id=video_id)
        if visibility == "deleted":
            result.update(status=410, code="gone", message="This video was deleted.")
        elif visibility == "live":
            try:
                services[action](video_id=video_id, actor=actor)
            except ServiceError as refused:
                result.update(status=refused.status_code, code=refused.code, message=refused.message)
            else:
                status = 204 if action == "delete" else 202 if action == "retry" else 200
                result.update(ok=True, status=status, code="", message="")
        results.append(result)
    return results
