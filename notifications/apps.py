from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from mediaplatform.metrics import register as register_metrics
        from notifications.credentials import connect_credential_receivers
        from notifications.metrics import OutboxCollector

        connect_credential_receivers()
        register_metrics(OutboxCollector())
