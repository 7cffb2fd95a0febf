"""Bringing a reconnecting client up to date from the outbox table.

The table keeps every event (whatever its delivery status) until it is
purged, so a client that names the last seq it saw gets exactly the events
after it, in order. When those are gone (purged), too many, or the client
names a seq the server never issued, it gets one snapshot of the video's
current state instead, carrying the video's current seq.
"""

import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from notifications.selectors import outbox_payloads_between, watchable_videos

REPLAY_MAX_EVENTS = 500
RESUME_MAX_VIDEOS = 200


def video_snapshot_message(*, video: dict[str, Any]) -> dict[str, Any]:
    """A message shaped like an event that states where the video stands now."""
    return {
        "event_type": "snapshot",
        "video_id": str(video["id"]),
        "seq": video["last_event_seq"],
        "timestamp": timezone.now().isoformat(),
        "state": video["workflow_state"],
        "data": {
            "title": video["title"] or video["original_filename"],
            "stage": video["current_stage"],
            "progress_percentage": float(video["progress_percentage"]),
            "error_message": video["last_error_message"],
            "error_code": "cancelled" if video["cancelled_at"] else None,
            "objects_detected": video["objects_detected_count"],
            "processing_speed": video["frames_per_second_processed"],
        },
    }


def catch_up_messages(*, user: AbstractBaseUser, last_seqs: dict[str, int]) -> list[dict[str, Any]]:
    """Everything each named video's client missed after its last seq: events, or a snapshot.

    Videos the user may not watch (or that do not exist) are left out silently.
    """
    videos = watchable_videos(user=user, video_ids=list(last_seqs)[:RESUME_MAX_VIDEOS])
    messages: list[dict[str, Any]] = []
    for video_id, video in videos.items():
        last_seq = last_seqs[video_id]
        current_seq = video["last_event_seq"]
        if last_seq == current_seq:
            continue
        if last_seq > current_seq or current_seq - last_seq > REPLAY_MAX_EVENTS:
            messages.append(video_snapshot_message(video=video))
            continue
        # current_seq was read from a committed row, and seqs are handed out under
        # that row's lock, so every event up to it is committed and visible now.
        payloads = outbox_payloads_between(video_id=video_id, after_seq=last_seq, upto_seq=current_seq)
        if len(payloads) != current_seq - last_seq:
            messages.append(video_snapshot_message(video=video))  # some were purged
            continue
        messages.extend({**payload, "replayed": True} for payload in payloads)
    return messages


def parse_last_seqs(*, value: Any, video_id: uuid.UUID | None) -> dict[str, int]:
    """Validate a client's `last_seq`: a number (per-video socket) or a {video_id: number} map.

    Raises ValueError with a message for the client.
    """
    if isinstance(value, dict):
        positions = value
    elif video_id is not None:
        positions = {str(video_id): value}
    else:
        raise ValueError('on /ws/videos/ last_seq must be a map {"<video_id>": <seq>}')
    if len(positions) > RESUME_MAX_VIDEOS:
        raise ValueError(f"at most {RESUME_MAX_VIDEOS} videos per resume")
    parsed: dict[str, int] = {}
    for key, seq in positions.items():
        try:
            normalized = str(uuid.UUID(str(key)))
        except ValueError:
            raise ValueError(f"not a video id: {key!r}")
        if isinstance(seq, bool) or not isinstance(seq, int | str):
            raise ValueError(f"last_seq for {normalized} must be a whole number")
        try:
            number = int(seq)
        except ValueError:
            raise ValueError(f"last_seq for {normalized} must be a whole number")
        if number < 0:
            raise ValueError(f"last_seq for {normalized} must not be negative")
        if video_id is not None and normalized != str(video_id):
            continue  # a per-video socket only replays its own video
        parsed[normalized] = number
    return parsed
