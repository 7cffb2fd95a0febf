import threading

import pytest
from django.db import connection, transaction
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from audit.models import AuditLogEntry
from notifications.models import OutboxEvent
from tests.factories import VideoFactory
from videos.models import Video, VideoStateTransition, WorkflowState
from videos.services.transitions import video_transition

S = WorkflowState
ALLOWED = {
    ("initializing", "start_upload"): S.UPLOADING,
    ("uploading", "finish_upload"): S.UPLOADED,
    ("uploaded", "start_validation"): S.VALIDATING,
    ("failed", "start_validation"): S.VALIDATING,
    ("validating", "start_processing"): S.PROCESSING,
    ("processing", "complete"): S.COMPLETED,
    ("initializing", "fail"): S.FAILED,
    ("uploading", "fail"): S.FAILED,
    ("uploaded", "fail"): S.FAILED,
    ("validating", "fail"): S.FAILED,
    ("processing", "fail"): S.FAILED,
    ("completed", "archive"): S.ARCHIVED,
    ("failed", "archive"): S.ARCHIVED,
}
TRANSITIONS = ["start_upload", "finish_upload", "start_validation", "start_processing", "complete", "fail", "archive"]
MATRIX = [(state.value, name) for state in S for name in TRANSITIONS]


@pytest.mark.django_db
@pytest.mark.parametrize(("state", "transition_name"), MATRIX)
def test_transition_matrix(state, transition_name):
    video = VideoFactory(workflow_state=state)
    target = ALLOWED.get((state, transition_name))

    if target is None:
        with pytest.raises(TransitionNotAllowed):
            video_transition(video_id=video.pk, transition_name=transition_name, reason="matrix")
        reloaded = Video.objects.get(pk=video.pk)
        assert reloaded.workflow_state == state
        assert reloaded.last_event_seq == 0
        assert not VideoStateTransition.objects.filter(video=video).exists()
        assert not AuditLogEntry.objects.filter(object_id=str(video.pk)).exists()
        assert not OutboxEvent.objects.filter(video=video).exists()
        return

    video_transition(video_id=video.pk, transition_name=transition_name, reason="matrix")
    reloaded = Video.objects.get(pk=video.pk)
    assert reloaded.workflow_state == target
    history = VideoStateTransition.objects.get(video=video)
    assert (history.from_state, history.to_state, history.reason) == (state, target, "matrix")
    audit = AuditLogEntry.objects.get(object_id=str(video.pk), action="video.transition")
    assert audit.old_values == {"workflow_state": state}
    assert audit.new_values["workflow_state"] == target
    event = OutboxEvent.objects.get(video=video)
    assert (event.seq, event.payload["state"], reloaded.last_event_seq) == (1, target, 1)


def test_every_state_is_covered_by_the_matrix():
    assert {state for state, _ in ALLOWED} | {target for target in ALLOWED.values()} == set(S.values)


@pytest.mark.django_db
def test_the_state_field_cannot_be_assigned_directly():
    video = VideoFactory(workflow_state="processing")
    with pytest.raises(AttributeError):
        video.workflow_state = "completed"


@pytest.mark.django_db
def test_a_stale_instance_cannot_overwrite_a_newer_state():
    video = VideoFactory(workflow_state="processing")
    first, second = Video.objects.get(pk=video.pk), Video.objects.get(pk=video.pk)
    first.complete()
    first.save()
    second.fail()
    with pytest.raises(ConcurrentTransition), transaction.atomic():
        second.save()
    assert Video.objects.get(pk=video.pk).workflow_state == "completed"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("pair", [("complete", "fail"), ("complete", "complete"), ("fail", "fail")])
def test_concurrent_transitions_exactly_one_wins(pair):
    video = VideoFactory(workflow_state="processing")
    barrier = threading.Barrier(len(pair))
    outcomes: list[str] = []

    def attempt(transition_name: str) -> None:
        try:
            barrier.wait(timeout=10)
            video_transition(video_id=video.pk, transition_name=transition_name, reason="race")
            outcomes.append("won")
        except (TransitionNotAllowed, ConcurrentTransition):
            outcomes.append("lost")
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(name,)) for name in pair]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["lost", "won"]
    assert VideoStateTransition.objects.filter(video=video).count() == 1
    assert list(OutboxEvent.objects.filter(video=video).values_list("seq", flat=True)) == [1]
