"""Delivering committed outbox events to the channel layer.

Per video, events go out in `seq` order. The common case is the fast path:
right after commit, an event with no earlier pending event of its video is
sent at once from memory and marked sent afterwards, so the latency from
commit to the wire is one channel-layer send. Otherwise (a backlog after a
failure, the sweep) a round under a per-video advisory lock sends the video's
pending events in order, and a failed send stops the round so nothing
overtakes the event that will be retried.

Live messages are the stored payload, plus `coalesced_from_seq` when progress
ticks right before it were skipped (superseded by this newer tick, or expired):
a client that last saw seq L accepts an event with seq S when S == L + 1 or
`coalesced_from_seq` <= L + 1. Any other gap means an event was lost on the way
(Redis restarted, a delivery failed for good) and the client must resume from
L; replay from the table always has every seq.
"""

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.db.models import F, Min, Q, QuerySet
from django.utils import timezone

from mediaplatform.advisory_locks import AdvisoryLock, advisory_xact_lock
from notifications.models import EventType, OutboxEvent, OutboxStatus
from notifications.services.layer_loop import run_on_layer_loop

logger = logging.getLogger(__name__)

RETRY_BASE_SECONDS = 2
RETRY_MAX_SECONDS = 300
SEND_TIMEOUT_SECONDS = 5
# The sweep leaves young events to the after-commit path, which is about to send them.
SWEEP_GRACE = timedelta(seconds=5)


def retry_delay(*, attempts: int) -> timedelta:
    """Exponential backoff: 2 s, 4 s, 8 s ... capped at five minutes."""
    return timedelta(seconds=min(RETRY_BASE_SECONDS**attempts, RETRY_MAX_SECONDS))


@dataclass
class DeliveryPlan:
    """What one delivery round does with a video's pending events, in seq order."""

    to_send: list[tuple[OutboxEvent, dict]] = field(default_factory=list)
    skipped: list[OutboxEvent] = field(default_factory=list)


def _is_plain_progress(event: OutboxEvent) -> bool:
    # A transition may be reported by a progress-typed event (`previous_state` in
    # its data); a state change is never superseded.
    return event.event_type == EventType.PROCESSING_PROGRESS and "previous_state" not in event.payload.get("data", {})


def delivery_plan(*, events: list[OutboxEvent], now) -> DeliveryPlan:
    """Expire stale events and let the latest of consecutive plain progress ticks win.

    `events` are one video's pending events in seq order. Statuses of skipped
    events are set on the objects; nothing is saved here.
    """
    plan = DeliveryPlan()
    skipped_run_start: int | None = None
    for index, event in enumerate(events):
        is_progress = _is_plain_progress(event)
        following = events[index + 1] if index + 1 < len(events) else None
        if event.expires_at is not None and event.expires_at <= now:
            event.status = OutboxStatus.EXPIRED
        elif _is_plain_progress(event) and following is not None and _is_plain_progress(following):
            event.status = OutboxStatus.SUPERSEDED
        else:
            message = dict(event.payload)
            if skipped_run_start is not None:
                message["coalesced_from_seq"] = skipped_run_start
            plan.to_send.append((event, message))
            skipped_run_start = None
            continue
        plan.skipped.append(event)
        # Only skipped progress ticks may be bridged; a skipped state change is a real gap.
        if not is_progress:
            skipped_run_start = None
        elif skipped_run_start is None:
            skipped_run_start = event.seq
    return plan


async def _group_send_all(groups: list[str], message: dict) -> None:
    layer = get_channel_layer()
    # Encoded once here rather than once per connected consumer.
    envelope = {"type": "video.event", "event": message, "text": json.dumps(message)}
    for group in groups:
        await layer.group_send(group, envelope)


def _send(event: OutboxEvent, message: dict) -> Exception | None:
    try:
        run_on_layer_loop(_group_send_all(event.target_groups, message), timeout=SEND_TIMEOUT_SECONDS)
    except Exception as exc:  # the channel layer's failures are many and all mean "try later"
        return exc
    return None


def _lock_video_delivery(video_id: uuid.UUID | str) -> None:
    # Not a row lock on the video: emitters hold that while they work, and
    # delivery must not wait for them.
    advisory_xact_lock(AdvisoryLock.OUTBOX_DELIVERY, video_id)


UPDATED_FIELDS = ["status", "attempts", "last_error", "next_retry_at", "sent_at", "updated_at"]


def deliver_video_events(*, video_id: uuid.UUID | str, respect_backoff: bool = False) -> int:
    """Send the video's pending events in seq order; returns how many went out.

    The after-commit path ignores backoff: a new event is a fresh reason to try
    the whole backlog. The sweep respects it.
    """
    with transaction.atomic():
        _lock_video_delivery(video_id)
        now = timezone.now()
        events = list(OutboxEvent.objects.filter(video_id=video_id, status=OutboxStatus.PENDING).order_by("seq"))
        if not events:
            return 0
        first = events[0]
        if respect_backoff and first.next_retry_at is not None and first.next_retry_at > now:
            return 0
        # An event scheduled for later holds back everything after it.
        due = []
        for event in events:
            if event.scheduled_at > now:
                break
            due.append(event)

        plan = delivery_plan(events=due, now=now)
        touched = list(plan.skipped)
        sent = 0
        for event, message in plan.to_send:
            failure = _send(event, message)
            event.attempts += 1
            touched.append(event)
            if failure is None:
                event.status = OutboxStatus.SENT
                event.sent_at = now
                event.last_error = ""
                event.next_retry_at = None
                sent += 1
                continue
            _record_failure(event, failure, now=now)
            if event.status == OutboxStatus.PENDING:
                break
        # Skipped events after the failure point stay pending: the next round plans them again.
        if plan.to_send and touched[-1].status == OutboxStatus.PENDING:
            retry_seq = touched[-1].seq
            for event in plan.skipped:
                if event.seq > retry_seq:
                    event.status = OutboxStatus.PENDING
        for event in touched:
            event.updated_at = now
        OutboxEvent.objects.bulk_update(touched, UPDATED_FIELDS)
        return sent


def _record_failure(event: OutboxEvent, failure: Exception, *, now) -> None:
    logger.warning("outbox event %s (video %s seq %s) not sent: %s", event.pk, event.video_id, event.seq, failure)
    event.last_error = f"{type(failure).__name__}: {failure}"[:2000]
    if event.attempts >= event.max_attempts:
        event.status = OutboxStatus.FAILED  # clients see the gap and replay it from the table
    else:
        event.next_retry_at = now + retry_delay(attempts=event.attempts)


def deliver_after_commit(*, event: OutboxEvent, behind_backlog: bool) -> int:
    """Send a just-committed event: at once when nothing of its video is pending before it."""
    if behind_backlog:
        return deliver_video_events(video_id=event.video_id)
    failure = _send(event, event.payload)
    now = timezone.now()
    pending = OutboxEvent.objects.filter(pk=event.pk, status=OutboxStatus.PENDING)
    if failure is None:
        pending.update(status=OutboxStatus.SENT, sent_at=now, attempts=F("attempts") + 1, updated_at=now)
        return 1
    event.attempts += 1
    _record_failure(event, failure, now=now)
    pending.update(
        status=event.status,
        attempts=event.attempts,
        last_error=event.last_error,
        next_retry_at=event.next_retry_at,
        updated_at=now,
    )
    return 0


def deliver_pending_events(*, limit: int = 200, grace: timedelta = SWEEP_GRACE) -> int:
    """Sweep: deliver what the after-commit path left behind, most urgent videos first.

    Urgency picks the order of videos (a video with a pending failure or
    completion goes before one with only progress); within a video the seq
    order always holds.
    """
    now = timezone.now()
    due_videos = (
        OutboxEvent.objects.filter(status=OutboxStatus.PENDING, video__isnull=False, scheduled_at__lte=now - grace)
        .filter(Q(next_retry_at__isnull=True) | Q(next_retry_at__lte=now))
        .values("video_id")
        .annotate(most_urgent=Min("priority"), oldest=Min("id"))
        .order_by("most_urgent", "oldest")[:limit]
    )
    sent = sum(deliver_video_events(video_id=row["video_id"], respect_backoff=True) for row in list(due_videos))
    return sent + deliver_pending_videoless_events(limit=limit, grace=grace)


def deliver_pending_videoless_events(*, limit: int = 200, grace: timedelta = SWEEP_GRACE) -> int:
    """Sweep the events of no video (platform alerts for staff) that the after-commit path left behind.

    They have no sequence to keep, so each is retried on its own, with the same backoff and expiry as a video's.
    Rows another sweep holds are skipped.
    """
    now = timezone.now()
    with transaction.atomic():
        events = list(
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(status=OutboxStatus.PENDING, video__isnull=True, scheduled_at__lte=now - grace)
            .filter(Q(next_retry_at__isnull=True) | Q(next_retry_at__lte=now))
            .order_by("priority", "id")[:limit]
        )
        sent = 0
        for event in events:
            event.updated_at = now
            if event.expires_at is not None and event.expires_at <= now:
                event.status = OutboxStatus.EXPIRED
                continue
            event.attempts += 1
            failure = _send(event, event.payload)
            if failure is None:
                event.status, event.sent_at, event.last_error, event.next_retry_at = OutboxStatus.SENT, now, "", None
                sent += 1
            else:
                _record_failure(event, failure, now=now)
        OutboxEvent.objects.bulk_update(events, UPDATED_FIELDS)
    return sent


def outbox_events_past_retention(*, older_than: timedelta | None = None) -> QuerySet[OutboxEvent]:
    """Settled events (anything but pending) created longer ago than RETENTION_PURGE_SENT_NOTIFICATIONS_DAYS:
    the one rule for both the hourly purge and the daily retention cleanup."""
    if older_than is None:
        older_than = timedelta(days=settings.RETENTION_PURGE_SENT_NOTIFICATIONS_DAYS)
    return OutboxEvent.objects.filter(created_at__lt=timezone.now() - older_than).exclude(status=OutboxStatus.PENDING)


def outbox_purge(*, older_than: timedelta | None = None) -> int:
    """Delete settled events past retention; a client further behind than that gets a snapshot."""
    deleted, _ = outbox_events_past_retention(older_than=older_than).delete()
    return deleted
