from django.apps import AppConfig


class ProcessingConfig(AppConfig):
    name = "processing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from processing.services.jobs import ProcessingVideoRuns
        from videos.runs import video_runs_register

        video_runs_register(ProcessingVideoRuns())
