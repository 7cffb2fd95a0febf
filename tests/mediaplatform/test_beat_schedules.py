"""Beat's schedules come from settings.CELERY_BEAT_SCHEDULE, written into django-celery-beat's tables after
every migrate and when beat starts; staff pause them in the admin and they stay paused."""

from datetime import timedelta

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from mediaplatform.beat import beat_schedules_sync
from mediaplatform.celery import app


def declared_schedules() -> dict:
    return settings.CELERY_BEAT_SCHEDULE


@pytest.mark.django_db
def test_after_migrate_every_declared_schedule_exists_once_with_its_task_and_timing():
    assert len(declared_schedules()) == 6
    for name, entry in declared_schedules().items():
        task = PeriodicTask.objects.get(name=name)  # exactly one
        assert task.task == entry["task"] and task.enabled
        assert task.description == entry["description"]
        if isinstance(entry["schedule"], crontab):
            assert task.interval is None
            assert (task.crontab.minute, task.crontab.hour) == ("30", "3")
            assert str(task.crontab.timezone) == "UTC"
        else:
            assert task.crontab is None
            assert (task.interval.every, task.interval.period) == (
                entry["schedule"].total_seconds(),
                IntervalSchedule.SECONDS,
            )
    assert declared_schedules()["notifications: purge old outbox events"]["schedule"] == timedelta(hours=1)


@pytest.mark.django_db(transaction=True)
def test_a_paused_schedule_stays_paused_through_another_sync_a_migrate_and_beat_starting():
    name = "processing: requeue stuck jobs"
    PeriodicTask.objects.filter(name=name).update(enabled=False, task="someone.edited.this")
    declared = PeriodicTask.objects.filter(name__in=declared_schedules())
    counts = (declared.count(), IntervalSchedule.objects.count())

    beat_schedules_sync()
    call_command("migrate", verbosity=0)
    paused = PeriodicTask.objects.get(name=name)
    assert paused.enabled is False
    assert paused.task == "processing.tasks.requeue_stuck_jobs"  # the task follows the settings

    PeriodicTask.objects.filter(name=name).update(task="someone.edited.this")
    DatabaseScheduler(app=app)  # beat starting: writes the declared schedules too, with the same rows

    paused.refresh_from_db()
    assert paused.enabled is False
    assert paused.task == "processing.tasks.requeue_stuck_jobs"
    assert (declared.count(), IntervalSchedule.objects.count()) == counts == (6, 3)
