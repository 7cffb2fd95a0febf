"""Celery beat's schedules: declared in settings.CELERY_BEAT_SCHEDULE, kept in django-celery-beat's tables.

Beat's DatabaseScheduler writes the declared schedules into its tables when it starts; doing the same after every
`migrate` puts them in the admin before beat has ever run, so staff can see and pause them from the first
minute. Both go through django-celery-beat's own ModelEntry.from_entry, so they write identical rows: created or
updated by name (task, schedule, description), with `enabled` left as staff set it.
"""

import logging

from django.conf import settings

logger = logging.getLogger(__name__)


def beat_schedules_sync() -> list[str]:
    """Write every declared schedule into django-celery-beat's tables; returns their names."""
    from django_celery_beat.schedulers import ModelEntry

    from mediaplatform.celery import app

    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        ModelEntry.from_entry(name, app=app, **entry)
    return list(settings.CELERY_BEAT_SCHEDULE)


def sync_after_migrate(*, using: str = "default", apps=None, **kwargs) -> None:
    """post_migrate receiver (migrate, and flush, which sends no migration state): once django-celery-beat's
    tables exist in the default database."""
    if using != "default":
        return
    if apps is not None:
        try:
            apps.get_model("django_celery_beat", "PeriodicTask")
        except LookupError:  # migrated back past django-celery-beat's tables
            return
    names = beat_schedules_sync()
    logger.info("beat schedules synced: %s", ", ".join(names))
