from django.apps import AppConfig


class ProcessingConfig(AppConfig):
    name = "processing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from mediaplatform.health import register_check, register_detail
        from mediaplatform.metrics import register as register_metrics
        from notifications.alert_figures import pipeline_figures_register
        from processing.alert_figures import PipelineFiguresCollector, pipeline_figures_read
        from processing.health import alert_thresholds_summary, check_model, check_workers, database_pool_figures
        from processing.metrics import ProcessingCollector
        from processing.services.annotated_video import annotated_video_signals_connect
        from processing.services.jobs import ProcessingVideoRuns
        from videos.runs import video_runs_register

        video_runs_register(ProcessingVideoRuns())
        annotated_video_signals_connect()
        register_metrics(ProcessingCollector())
        pipeline_figures_register(pipeline_figures_read)
        register_metrics(PipelineFiguresCollector())
        register_check("workers", check_workers)
        register_check("model", check_model)
        register_detail("database_pool", database_pool_figures)
        register_detail("alert_thresholds", alert_thresholds_summary)
