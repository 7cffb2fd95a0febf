"""Reads for live delivery and replay."""

import uuid
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser

from notifications.models import Alert, AlertStatus, OutboxEvent
from videos.models import Video

SNAPSHOT_FIELDS = [
    "id",
    "owner_id",
    "title",
    "original_filename",
    "workflow_state",
    "cancelled_at",
    "current_stage",
    "progress_percentage",
    "last_error_message",
    "objects_detected_count",
    "frames_per_second_processed",
    "last_event_seq",
]


def watchable_videos(*, user: AbstractBaseUser, video_ids: Iterable[uuid.UUID | str]) -> dict[str, dict]:
    """Snapshot fields of those of the videos the user may watch (their own; any for staff), by id."""
    queryset = Video.objects.live().visible_to(user).filter(pk__in=list(video_ids))
    return {str(row["id"]): row for row in queryset.values(*SNAPSHOT_FIELDS)}


def outbox_payloads_between(*, video_id: uuid.UUID | str, after_seq: int, upto_seq: int) -> list[dict]:
    """Stored payloads of the video's events with after_seq < seq <= upto_seq, in seq order."""
    return list(
        OutboxEvent.objects.filter(video_id=video_id, seq__gt=after_seq, seq__lte=upto_seq)
        .order_by("seq")
        .values_list("payload", flat=True)
    )


def alert_payload(alert: Alert) -> dict:
    """An alert as the staff socket, webhooks and emails tell it."""
    return {
        "id": alert.pk,
        "check": alert.check_name,
        "title": alert.get_check_name_display(),
        "severity": alert.severity,
        "status": alert.status,
        "value": alert.value,
        "last_value": alert.last_value,
        "peak_value": alert.peak_value,
        "threshold": alert.threshold,
        "window_seconds": alert.window_seconds,
        "opened_at": alert.opened_at.isoformat(),
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
    }


def open_alerts() -> list[Alert]:
    return list(Alert.objects.filter(status=AlertStatus.OPEN).order_by("opened_at", "id"))


def open_alert_payloads() -> list[dict]:
    return [alert_payload(alert) for alert in open_alerts()]


def alert_email_recipients() -> list[str]:
    """Active staff users' addresses, each once."""
    addresses = (
        get_user_model().objects.filter(is_staff=True, is_active=True).exclude(email="").values_list("email", flat=True)
    )
    return sorted(set(addresses))
