from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class MediaplatformConfig(AppConfig):
    """The project's wiring as an app: it owns no models, only start-up hooks that are not any app's own."""

    name = "mediaplatform"

    def ready(self):
        from mediaplatform.beat import sync_after_migrate

        # Django sends post_migrate only for apps with models: this one's tables are django-celery-beat's.
        post_migrate.connect(
            sync_after_migrate,
            sender=apps.get_app_config("django_celery_beat"),
            dispatch_uid="mediaplatform.beat_schedules_sync",
        )
