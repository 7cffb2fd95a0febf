from django.apps import AppConfig


class VideosConfig(AppConfig):
    name = "videos"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from mediaplatform.metrics import register as register_metrics
        from videos.metrics import VideoCollector

        register_metrics(VideoCollector())
