"""Delivery rounds against the real Redis channel layer: coalescing, priority, expiry, retries."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from notifications.groups import video_group
from notifications.models import OutboxEvent, OutboxStatus
from notifications.services.delivery import deliver_pending_events, deliver_video_events
from notifications.services.events import event_emit
from notifications.services.replay import catch_up_messages
from tests import live
from tests.factories import VideoFactory
from tests.notifications.helpers import listen, receive
from videos.services.transitions import video_transition

# Inside pytest-django's per-test transaction on_commit never fires: events stay
# pending until a test delivers them, as after a crash or a Redis outage.
pytestmark = pytest.mark.django_db


NO_GRACE = timedelta(0)  # these tests play the sweep long after the events were written


def statuses(video) -> dict[int, str]:
    return dict(OutboxEvent.objects.filter(video=video).values_list("seq", "status"))


def test_a_backlog_of_progress_ticks_is_coalesced_latest_wins_and_announced():
    video = VideoFactory(workflow_state="processing")
    channel = listen(video_group(video.pk))
    with transaction.atomic():
        for percentage in (10, 20, 30):
            event_emit(video=video, event_type="processing_progress", data={"progress_percentage": percentage})
        video_transition(video_id=video.pk, transition_name="complete", event_type="processing_completed")
        event_emit(video=video, event_type="processing_progress", data={"progress_percentage": 100})

    assert deliver_pending_events(grace=NO_GRACE) == 3

    messages = [message["event"] for message in receive(channel, 3)]
    assert [(m["seq"], m["event_type"]) for m in messages] == [
        (3, "processing_progress"),
        (4, "processing_completed"),
        (5, "processing_progress"),
    ]
    assert messages[0]["data"]["progress_percentage"] == 30
    assert messages[0]["coalesced_from_seq"] == 1, "the client learns that seqs 1-2 were skipped on purpose"
    assert "coalesced_from_seq" not in messages[1]
    assert statuses(video) == {1: "superseded", 2: "superseded", 3: "sent", 4: "sent", 5: "sent"}
    # Replay still has every event.
    replayed = catch_up_messages(user=video.owner, last_seqs={str(video.pk): 0})
    assert [m["seq"] for m in replayed] == [1, 2, 3, 4, 5]


def test_a_transition_reported_as_progress_is_never_superseded():
    video = VideoFactory(workflow_state="validating")
    with transaction.atomic():
        video_transition(
            video_id=video.pk,
            transition_name="start_processing",
            event_type="processing_progress",
            event_data={"progress_percentage": 0},
        )
        event_emit(video=video, event_type="processing_progress", data={"progress_percentage": 10})

    assert deliver_pending_events(grace=NO_GRACE) == 2
    assert statuses(video) == {1: "sent", 2: "sent"}


def test_the_sweep_serves_videos_with_failures_and_completions_before_progress():
    only_progress = VideoFactory(workflow_state="processing")
    failing = VideoFactory(workflow_state="processing")
    with transaction.atomic():
        event_emit(video=only_progress, event_type="processing_progress", data={"progress_percentage": 5})
        event_emit(video=failing, event_type="processing_progress", data={"progress_percentage": 5})
        video_transition(video_id=failing.pk, transition_name="fail", reason="decoder", event_type="processing_failed")

    assert deliver_pending_events(limit=1, grace=NO_GRACE) == 2

    assert statuses(failing) == {1: "sent", 2: "sent"}, "the urgent video goes first, in seq order"
    assert statuses(only_progress) == {1: "pending"}
    assert deliver_pending_events(limit=1, grace=NO_GRACE) == 1


def test_stale_events_expire_instead_of_being_pushed_and_stay_replayable():
    video = VideoFactory(workflow_state="processing")
    with transaction.atomic():
        event_emit(video=video, event_type="processing_progress", data={"progress_percentage": 5})
        event_emit(video=video, event_type="processing_progress", data={"progress_percentage": 6})
        event_emit(video=video, event_type="state_changed", data={})
    OutboxEvent.objects.filter(video=video, seq__lte=2).update(expires_at=timezone.now() - timedelta(seconds=1))
    channel = listen(video_group(video.pk))

    assert deliver_video_events(video_id=video.pk) == 1

    [message] = [m["event"] for m in receive(channel, 1)]
    assert (message["seq"], message["coalesced_from_seq"]) == (3, 1)
    assert statuses(video) == {1: "expired", 2: "expired", 3: "sent"}
    assert [m["seq"] for m in catch_up_messages(user=video.owner, last_seqs={str(video.pk): 0})] == [1, 2, 3]


def test_a_failed_send_is_retried_with_backoff_in_order_and_finally_given_up(settings):
    video = VideoFactory(workflow_state="processing")
    with transaction.atomic():
        event_emit(video=video, event_type="state_changed", data={"step": 1})
        event_emit(video=video, event_type="state_changed", data={"step": 2})
    working_layers = settings.CHANNEL_LAYERS
    dead_redis = f"redis://127.0.0.1:{live.free_port()}/0"
    layer = working_layers["default"]
    settings.CHANNEL_LAYERS = {"default": {**layer, "CONFIG": {**layer["CONFIG"], "hosts": [dead_redis]}}}

    assert deliver_video_events(video_id=video.pk) == 0

    first, second = OutboxEvent.objects.filter(video=video).order_by("seq")
    assert (first.status, first.attempts, second.attempts) == ("pending", 1, 0), "the round stops at the failure"
    assert "Error" in first.last_error
    assert first.next_retry_at - first.updated_at == timedelta(seconds=2)
    assert deliver_pending_events(grace=NO_GRACE) == 0, "the sweep waits for the backoff"
    assert OutboxEvent.objects.get(pk=first.pk).attempts == 1

    for expected_attempts in range(2, first.max_attempts + 1):
        OutboxEvent.objects.filter(pk=first.pk).update(next_retry_at=timezone.now())
        assert deliver_pending_events(grace=NO_GRACE) == 0
        first.refresh_from_db()
        assert first.attempts == expected_attempts
    assert first.status == OutboxStatus.FAILED
    second.refresh_from_db()
    assert (second.status, second.attempts) == ("pending", 1), "the round went on past the given-up event"

    settings.CHANNEL_LAYERS = working_layers
    OutboxEvent.objects.filter(pk=second.pk).update(next_retry_at=timezone.now())
    channel = listen(video_group(video.pk))
    assert deliver_pending_events(grace=NO_GRACE) == 1
    [message] = [m["event"] for m in receive(channel, 1)]
    assert message["seq"] == 2 and "coalesced_from_seq" not in message, "a client sees the gap and replays seq 1"
