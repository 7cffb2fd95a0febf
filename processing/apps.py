from django.apps import AppConfig


class ProcessingConfig(AppConfig):
    name = "processing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from mediaplatform.metrics import register as register_metrics
        from processing.metrics import ProcessingCollector

        register_metrics(ProcessingCollector())
