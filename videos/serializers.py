from datetime import timedelta

from django.utils import timezone
from rest_framework import serializers

from videos.models import Video, VideoStateTransition


class VideoCreateSerializer(serializers.Serializer):
    """A new video: a multipart `file`, or a `source_url` the server fetches (http/https, public hosts)."""

    file = serializers.FileField(required=False, allow_empty_file=True, use_url=False)
    source_url = serializers.CharField(required=False, max_length=2000, help_text="http(s) URL of a video to fetch")
    title = serializers.CharField(max_length=255, required=False, allow_blank=True)
    frame_step = serializers.IntegerField(min_value=1, max_value=10_000, required=False)


class StateTransitionSerializer(serializers.ModelSerializer):
    class Meta:
        model = VideoStateTransition
        fields = ["from_state", "to_state", "transition", "reason", "created_at"]


class VideoListSerializer(serializers.ModelSerializer):
    state = serializers.CharField(source="workflow_state", read_only=True)

    class Meta:
        model = Video
        fields = [
            "id",
            "title",
            "original_filename",
            "state",
            "cancelled_at",
            "current_stage",
            "progress_percentage",
            "objects_detected_count",
            "size_bytes",
            "created_at",
            "updated_at",
        ]


STATS_DEFAULT_WINDOW = timedelta(hours=24)


class StatsQuerySerializer(serializers.Serializer):
    """The window [from, to): validated_data always holds both, the defaults filled in."""

    # "from"/"to" are Python keywords: declared below under their query names.
    def validate(self, attrs):
        created_to = attrs.get("to") or timezone.now()
        created_from = attrs.get("from")
        if created_from is None:
            try:
                created_from = created_to - STATS_DEFAULT_WINDOW
            except OverflowError:  # `to` within a day of the year 1: the default window would start before it
                raise serializers.ValidationError(
                    {"to": "to is too early for the default 24-hour window before it; give from as well."}
                )
        if created_from >= created_to:
            raise serializers.ValidationError({"to": "to must come after from."})
        return {"from": created_from, "to": created_to}


StatsQuerySerializer._declared_fields["from"] = serializers.DateTimeField(
    required=False, help_text="Window start (ISO 8601); default 24 hours before `to`"
)
StatsQuerySerializer._declared_fields["to"] = serializers.DateTimeField(
    required=False, help_text="Window end (ISO 8601); default now"
)


class StatsSerializer(serializers.Serializer):
    total_videos = serializers.IntegerField()
    videos_per_state = serializers.DictField(child=serializers.IntegerField())
    avg_processing_time_seconds = serializers.FloatField(allow_null=True)
    total_objects_detected = serializers.IntegerField()
    last_updated = serializers.DateTimeField(allow_null=True)


StatsSerializer._declared_fields["from"] = serializers.DateTimeField()
StatsSerializer._declared_fields["to"] = serializers.DateTimeField()
