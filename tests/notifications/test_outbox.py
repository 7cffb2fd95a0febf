"""Outbox delivery through the real Redis channel layer."""

from datetime import timedelta

import pytest
from django.db import transaction

from notifications.groups import video_group
from notifications.models import OutboxEvent, OutboxStatus
from notifications.services.delivery import deliver_pending_events
from notifications.services.events import event_emit
from tests import live
from tests.factories import VideoFactory
from tests.notifications.helpers import listen, receive
from videos.services.transitions import video_transition

NO_GRACE = timedelta(0)  # the test plays the sweep long after the events were written


@pytest.mark.django_db(transaction=True)
def test_events_are_delivered_after_commit_in_sequence():
    video = VideoFactory(workflow_state="processing")
    channel = listen(video_group(video.pk))

    with transaction.atomic():
        video_transition(video_id=video.pk, transition_name="complete", event_type="processing_completed")
        assert not OutboxEvent.objects.filter(status=OutboxStatus.SENT).exists()

    [message] = receive(channel)
    assert message["type"] == "video.event"
    assert message["event"]["event_type"] == "processing_completed"
    assert message["event"]["seq"] == 1
    assert message["event"]["state"] == "completed"
    assert OutboxEvent.objects.get(video=video).status == OutboxStatus.SENT


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_sends_nothing_and_leaves_no_gap():
    video = VideoFactory(workflow_state="processing")

    with pytest.raises(RuntimeError), transaction.atomic():
        video_transition(video_id=video.pk, transition_name="complete")
        raise RuntimeError("the change fails after the transition")

    assert not OutboxEvent.objects.filter(video=video).exists()
    video_transition(video_id=video.pk, transition_name="fail", reason="x")
    assert list(OutboxEvent.objects.filter(video=video).values_list("seq", flat=True)) == [1]


@pytest.mark.django_db
def test_the_sweep_delivers_what_was_left_pending():
    # Inside the test's transaction on_commit never fires: the events stay pending,
    # as they would after a crash between commit and delivery.
    video = VideoFactory(workflow_state="processing")
    channel = listen(video_group(video.pk))
    with transaction.atomic():
        event_emit(video=video, event_type="processing_progress", data={"progress_percentage": 10})
        event_emit(video=video, event_type="state_changed", data={})

    assert deliver_pending_events(grace=NO_GRACE) == 2

    assert [message["event"]["seq"] for message in receive(channel, 2)] == [1, 2]
    assert set(OutboxEvent.objects.values_list("status", flat=True)) == {OutboxStatus.SENT}
    assert deliver_pending_events(grace=NO_GRACE) == 0


@pytest.mark.django_db
def test_event_emit_refuses_to_run_outside_a_transaction(django_db_blocker):
    video = VideoFactory()
    with pytest.raises(RuntimeError):
        # pytest-django wraps the test in a transaction; leave it to see the guard.
        from django.db import connection

        atomic = connection.in_atomic_block
        connection.in_atomic_block = False
        try:
            event_emit(video=video, event_type="state_changed", data={})
        finally:
            connection.in_atomic_block = atomic


@pytest.mark.django_db(transaction=True)
def test_after_a_failed_send_the_next_event_brings_the_backlog_out_first_in_order(settings):
    video = VideoFactory(workflow_state="processing")
    working_layers = settings.CHANNEL_LAYERS
    layer = working_layers["default"]
    dead_redis = f"redis://127.0.0.1:{live.free_port()}/0"
    settings.CHANNEL_LAYERS = {"default": {**layer, "CONFIG": {**layer["CONFIG"], "hosts": [dead_redis]}}}
    video_transition(video_id=video.pk, transition_name="fail", reason="x", event_type="processing_failed")
    missed = OutboxEvent.objects.get(video=video)
    assert (missed.status, missed.attempts) == (OutboxStatus.PENDING, 1)
    assert missed.next_retry_at is not None and "Error" in missed.last_error

    settings.CHANNEL_LAYERS = working_layers
    channel = listen(video_group(video.pk))
    video_transition(video_id=video.pk, transition_name="start_validation", event_type="processing_started")

    assert [message["event"]["seq"] for message in receive(channel, 2)] == [1, 2]
    assert set(OutboxEvent.objects.filter(video=video).values_list("status", flat=True)) == {OutboxStatus.SENT}
