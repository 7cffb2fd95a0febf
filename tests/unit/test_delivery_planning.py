"""Event delivery planning, as tables: which of a video's pending events go out live, which are skipped, and how
a client is told that skipped progress ticks leave no real gap. No database: the plan works on unsaved events."""

from datetime import UTC, datetime, timedelta

import pytest

from notifications.models import EventType, OutboxEvent, OutboxStatus
from notifications.services.delivery import delivery_plan, retry_delay
from notifications.services.events import EVENT_PRIORITIES

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SUPERSEDED, EXPIRED = OutboxStatus.SUPERSEDED, OutboxStatus.EXPIRED


def pending_events(spec: str) -> list[OutboxEvent]:
    """One video's pending events in seq order from a spec of words: `p` a plain progress tick, `t` a progress
    event reporting a transition (it carries `previous_state`), `s` a state change; `!` after it: expired."""
    events = []
    for seq, word in enumerate(spec.split(), start=1):
        kind, expired = word.rstrip("!"), word.endswith("!")
        data = {"previous_state": "validating"} if kind == "t" else {}
        event_type = EventType.PROCESSING_STARTED if kind == "s" else EventType.PROCESSING_PROGRESS
        events.append(
            OutboxEvent(
                seq=seq,
                event_type=event_type,
                payload={"event_type": str(event_type), "seq": seq, "data": data},
                status=OutboxStatus.PENDING,
                expires_at=NOW - timedelta(seconds=1) if expired else NOW + timedelta(minutes=1),
            )
        )
    return events


PLANS = [
    # (pending events, sent as (seq, coalesced_from_seq), skipped as (seq, status))
    ("", [], []),
    ("p", [(1, None)], []),
    ("s", [(1, None)], []),
    # The latest of consecutive progress ticks wins; the client learns the skipped ones were only ticks.
    ("p p p", [(3, 1)], [(1, SUPERSEDED), (2, SUPERSEDED)]),
    ("p p s", [(2, 1), (3, None)], [(1, SUPERSEDED)]),
    # A state change is never superseded, and a tick before it is not superseded by it.
    ("p s p", [(1, None), (2, None), (3, None)], []),
    ("s s", [(1, None), (2, None)], []),
    # A progress-typed event that reports a transition counts as a state change.
    ("p t p", [(1, None), (2, None), (3, None)], []),
    ("p p t", [(2, 1), (3, None)], [(1, SUPERSEDED)]),
    # Expired events are not pushed live: expired ticks are bridged, an expired state change is a real gap.
    ("p! s", [(2, 1)], [(1, EXPIRED)]),
    ("s! p", [(2, None)], [(1, EXPIRED)]),
    ("p p! p", [(3, 1)], [(1, SUPERSEDED), (2, EXPIRED)]),
    ("p p s! p p", [(2, 1), (5, 4)], [(1, SUPERSEDED), (3, EXPIRED), (4, SUPERSEDED)]),
    ("s p! p!", [(1, None)], [(2, EXPIRED), (3, EXPIRED)]),
    ("t!", [], [(1, EXPIRED)]),
]


@pytest.mark.parametrize(("spec", "sent", "skipped"), PLANS, ids=[spec or "nothing" for spec, _, _ in PLANS])
def test_delivery_plan(spec, sent, skipped):
    events = pending_events(spec)
    plan = delivery_plan(events=events, now=NOW)
    assert [(event.seq, message.get("coalesced_from_seq")) for event, message in plan.to_send] == sent
    assert [(event.seq, event.status) for event in plan.skipped] == skipped
    for event, message in plan.to_send:
        assert event.status == OutboxStatus.PENDING, "what is sent is marked once it has gone"
        assert {key: value for key, value in message.items() if key != "coalesced_from_seq"} == event.payload


def test_an_event_expiring_this_very_moment_is_expired():
    [event] = pending_events("s")
    event.expires_at = NOW
    assert delivery_plan(events=[event], now=NOW).skipped == [event]


def test_an_event_without_expiry_is_always_sent():
    [event] = pending_events("p")
    event.expires_at = None
    assert [sent for sent, _ in delivery_plan(events=[event], now=NOW).to_send] == [event]


@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [(0, 1), (1, 2), (2, 4), (3, 8), (8, 256), (9, 300), (20, 300)],
)
def test_retry_delay_doubles_up_to_five_minutes(attempts, seconds):
    assert retry_delay(attempts=attempts) == timedelta(seconds=seconds)


PRIORITIES = [
    (EventType.PROCESSING_FAILED, 1),
    (EventType.PROCESSING_CANCELLED, 1),
    (EventType.ERROR_OCCURRED, 1),
    (EventType.PROCESSING_COMPLETED, 2),
    (EventType.GROUND_TRUTH_GENERATED, 2),
    (EventType.UPLOAD_COMPLETED, 3),
    (EventType.PROCESSING_STARTED, 3),
    (EventType.STATE_CHANGED, 3),
    (EventType.UPLOAD_STARTED, 4),
    (EventType.PROCESSING_PROGRESS, 6),
]


@pytest.mark.parametrize(("event_type", "priority"), PRIORITIES)
def test_event_priorities(event_type, priority):
    assert EVENT_PRIORITIES[event_type] == priority


def test_every_outcome_goes_out_before_any_progress_tick():
    outcomes = (EventType.PROCESSING_FAILED, EventType.PROCESSING_CANCELLED, EventType.PROCESSING_COMPLETED)
    assert all(EVENT_PRIORITIES[outcome] < EVENT_PRIORITIES[EventType.PROCESSING_PROGRESS] for outcome in outcomes)
