"""Writing events to the outbox, inside the transaction of the change they report."""

from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from audit.context import current_request_id
from mediaplatform.sql import sql_column, sql_table
from notifications.groups import ALL_VIDEOS_GROUP, user_group, video_group
from notifications.models import EventType, OutboxEvent, OutboxStatus
from videos.models import Video

# 1 is the most urgent. Terminal events must overtake any backlog of progress ticks.
EVENT_PRIORITIES: dict[str, int] = {
    EventType.PROCESSING_FAILED: 1,
    EventType.PROCESSING_CANCELLED: 1,
    EventType.ERROR_OCCURRED: 1,
    EventType.PROCESSING_COMPLETED: 2,
    EventType.GROUND_TRUTH_GENERATED: 2,
    EventType.UPLOAD_COMPLETED: 3,
    EventType.PROCESSING_STARTED: 3,
    EventType.STATE_CHANGED: 3,
    EventType.UPLOAD_STARTED: 4,
    EventType.PROCESSING_PROGRESS: 6,
}

# How long an event is worth pushing live. A progress tick a minute old only
# misleads; a state change is still news hours later. Expired events are kept
# for replay, they are just not pushed.
PROGRESS_LIVE_TTL = timedelta(minutes=1)
STATE_CHANGE_LIVE_TTL = timedelta(hours=24)


_SEQ = sql_column(Video, "last_event_seq")
_NEXT_VIDEO_SEQ_SQL = (
    f"UPDATE {sql_table(Video)} SET {_SEQ} = {_SEQ} + 1 WHERE {sql_column(Video, 'id')} = %s RETURNING {_SEQ},"
    f" EXISTS (SELECT 1 FROM {sql_table(OutboxEvent)} WHERE {sql_column(OutboxEvent, 'video')} = %s"
    f" AND {sql_column(OutboxEvent, 'status')} = %s)"
)


def _next_video_seq(video_id) -> tuple[int, bool]:
    """The video's next seq, and whether earlier events of it are still pending (one round trip)."""
    # The UPDATE takes the video's row lock until commit, so concurrent emitters
    # are serialised and a rolled-back transaction leaves no gap in the sequence.
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_VIDEO_SEQ_SQL, [video_id, video_id, OutboxStatus.PENDING])
        row = cursor.fetchone()
    if row is None:
        raise LookupError(f"video {video_id} does not exist")
    return row[0], row[1]


def event_emit(*, video, event_type: str, data: dict[str, Any]) -> OutboxEvent:
    """Store an event for the video's watchers; it is delivered once the transaction commits."""
    if not connection.in_atomic_block:
        raise RuntimeError("event_emit must run inside the transaction of the change it reports")

    seq, earlier_pending = _next_video_seq(video.pk)
    video.last_event_seq = seq
    now = timezone.now()
    priority = EVENT_PRIORITIES.get(event_type, 5)
    payload = {
        "event_type": str(event_type),
        "video_id": str(video.pk),
        "seq": seq,
        "timestamp": now.isoformat(),
        "state": video.workflow_state,
        "priority": priority,
        "request_id": current_request_id(),
        "data": data,
    }
    live_ttl = PROGRESS_LIVE_TTL if event_type == EventType.PROCESSING_PROGRESS else STATE_CHANGE_LIVE_TTL
    event = OutboxEvent.objects.create(
        video_id=video.pk,
        seq=seq,
        target_groups=[video_group(video.pk), user_group(video.owner_id), ALL_VIDEOS_GROUP],
        target_user_id=video.owner_id,
        event_type=event_type,
        payload=payload,
        priority=priority,
        scheduled_at=now,
        expires_at=now + live_ttl,
    )

    from notifications.services.delivery import deliver_after_commit

    # robust: the change is committed whatever happens here; a failed delivery
    # is left pending for a retry and must not fail the caller.
    transaction.on_commit(lambda: deliver_after_commit(event=event, behind_backlog=earlier_pending), robust=True)
    return event
