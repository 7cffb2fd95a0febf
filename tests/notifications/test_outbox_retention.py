"""One retention setting for the outbox: the hourly purge and the daily cleanup follow
RETENTION_PURGE_SENT_NOTIFICATIONS_DAYS."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import OutboxEvent
from notifications.tasks import purge_outbox_task
from processing.services.retention import retention_cleanup
from tests.factories import VideoFactory

DAY = timedelta(days=1)


def events_aged(video, ages_and_statuses) -> dict[tuple[float, str], int]:
    now = timezone.now()
    ids = {}
    for seq, (age_days, status) in enumerate(ages_and_statuses, start=1):
        event = OutboxEvent.objects.create(
            video=video, seq=seq, event_type="processing_progress", payload={}, status=status
        )
        OutboxEvent.objects.filter(pk=event.pk).update(created_at=now - age_days * DAY)
        ids[(age_days, status)] = event.pk
    return ids


AGES = [(3, "sent"), (3, "superseded"), (1, "sent"), (3, "pending")]


@pytest.mark.django_db
def test_the_hourly_purge_follows_the_retention_setting(settings):
    settings.RETENTION_PURGE_SENT_NOTIFICATIONS_DAYS = 2
    ids = events_aged(VideoFactory(), AGES)

    assert purge_outbox_task() == 2

    kept = set(OutboxEvent.objects.values_list("pk", flat=True))
    assert kept == {ids[(1, "sent")], ids[(3, "pending")]}


@pytest.mark.django_db
def test_a_longer_setting_keeps_them(settings):
    settings.RETENTION_PURGE_SENT_NOTIFICATIONS_DAYS = 5
    events_aged(VideoFactory(), AGES)

    assert purge_outbox_task() == 0
    assert OutboxEvent.objects.count() == 4


@pytest.mark.django_db
def test_the_daily_cleanup_removes_the_same_events(settings):
    settings.RETENTION_PURGE_SENT_NOTIFICATIONS_DAYS = 2
    ids = events_aged(VideoFactory(), AGES)

    assert retention_cleanup(dry_run=True).purged_notifications == 2
    retention_cleanup()

    assert set(OutboxEvent.objects.values_list("pk", flat=True)) == {ids[(1, "sent")], ids[(3, "pending")]}
