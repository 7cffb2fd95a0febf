from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from mediaplatform.metrics import register as register_metrics
        from notifications.metrics import OutboxCollector
        from notifications.signals import connect_credential_receivers

        connect_credential_receivers()
        register_metrics(OutboxCollector())
