from django.apps import AppConfig


class ProcessingConfig(AppConfig):
    name = "processing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from mediaplatform.health import register_check
        from mediaplatform.metrics import register as register_metrics
        from processing.health import check_model, check_workers
        from processing.metrics import ProcessingCollector
        from processing.services.annotated_video import annotated_video_signals_connect
        from processing.services.jobs import ProcessingVideoRuns
        from videos.runs import video_runs_register

        video_runs_register(ProcessingVideoRuns())
        annotated_video_signals_connect()
        register_metrics(ProcessingCollector())
        register_check("workers", check_workers)
        register_check("model", check_model)
