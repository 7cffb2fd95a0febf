"""Moving a video through its workflow: lock, transition, history, audit and event in one transaction."""

import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from audit.services import audit_record, jsonable_values
from notifications.services.events import event_emit
from videos.models import Video, VideoStateTransition, WorkflowState

TRANSITION_NAMES = frozenset(
    {"start_upload", "finish_upload", "start_validation", "start_processing", "complete", "fail", "archive"}
)


def video_lock(*, video_id: uuid.UUID | str) -> Video:
    """The video, freshly read under a row lock. Call inside a transaction.

    FOR NO KEY UPDATE, the lock an UPDATE takes: it excludes other writers of the row but not the
    key-share locks that inserting a job, an event or a history row referencing the video takes.
    With FOR UPDATE, a transaction inserting such a row while holding a job's lock would wait on the
    video's holder, who may be waiting for that very job: a deadlock.
    """
    return Video.objects.select_for_update(no_key=True).get(pk=video_id)


@transaction.atomic
def video_transition(
    *,
    video_id: uuid.UUID | str,
    transition_name: str,
    actor: AbstractBaseUser | None = None,
    actor_label: str = "",
    reason: str = "",
    event_type: str | None = None,
    event_data: dict[str, Any] | None = None,
    field_updates: dict[str, Any] | None = None,
) -> Video:
    """Apply one workflow transition.

    Raises `django_fsm.TransitionNotAllowed` (and changes nothing) when the
    video's current state does not allow it.
    """
    if transition_name not in TRANSITION_NAMES:
        raise ValueError(f"unknown transition {transition_name!r}")

    video = video_lock(video_id=video_id)
    from_state = video.workflow_state
    getattr(video, transition_name)()
    for field, value in (field_updates or {}).items():
        setattr(video, field, value)
    if video.workflow_state == "failed" and reason and "last_error_message" not in (field_updates or {}):
        video.last_error_message = reason
    video.save()

    VideoStateTransition.objects.create(
        video=video,
        from_state=from_state,
        to_state=video.workflow_state,
        transition=transition_name,
        actor=actor if actor is not None and actor.is_authenticated else None,
        reason=reason,
    )
    audit_record(
        action="video.transition",
        obj=video,
        actor=actor,
        actor_label=actor_label,
        old_values={"workflow_state": from_state},
        new_values={"workflow_state": video.workflow_state, **jsonable_values(field_updates)},
        reason=reason,
    )
    data = {"stage": video.current_stage, "previous_state": from_state, **(event_data or {})}
    if video.workflow_state == "failed":
        data.setdefault("error_message", video.last_error_message)
    event = event_emit(video=video, event_type=event_type or "state_changed", data=data)
    if video.workflow_state in (WorkflowState.COMPLETED, WorkflowState.FAILED):
        from notifications.services.webhooks import webhooks_enqueue

        webhooks_enqueue(video=video, event_type=event.event_type, payload=event.payload)
    return video
