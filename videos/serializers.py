from datetime import timedelta

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mediaplatform.api.fields import column_integer_field
from processing.models import Detection, JobStage, ProcessingErrorLog, ProcessingJob
from videos.models import Video, VideoStateTransition
from videos.selectors import video_latest_job


class VideoCreateSerializer(serializers.Serializer):
    """A new video: a multipart `file`, or a `source_url` the server fetches (http/https, public hosts)."""

    file = serializers.FileField(required=False, allow_empty_file=True, use_url=False)
    source_url = serializers.CharField(required=False, max_length=2000, help_text="http(s) URL of a video to fetch")
    title = serializers.CharField(max_length=255, required=False, allow_blank=True)
    frame_step = column_integer_field(ProcessingJob, "frame_step", min_value=1, max_value=10_000, required=False)


class StateTransitionSerializer(serializers.ModelSerializer):
    class Meta:
        model = VideoStateTransition
        fields = ["from_state", "to_state", "transition", "reason", "created_at"]


class VideoErrorSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = ProcessingErrorLog
        fields = ["id", "job_id", "stage", "error_type", "error_code", "message", "severity", "created_at"]


class JobStageSerializer(serializers.ModelSerializer):
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = JobStage
        fields = ["stage", "status", "progress_percentage", "started_at", "finished_at", "duration_seconds", "detail"]


class JobSummarySerializer(serializers.ModelSerializer):
    stages = JobStageSerializer(many=True, read_only=True)

    class Meta:
        model = ProcessingJob
        fields = [
            "id",
            "status",
            "model_name",
            "frame_step",
            "start_frame",
            "end_frame",
            "max_fps",
            "track",
            "is_ground_truth",
            "current_stage",
            "stages",
            "processed_frames",
            "total_frames",
            "next_frame_index",
            "progress_percentage",
            "frames_per_second",
            "estimated_completion_at",
            "detections_count",
            "processing_node_id",
            "peak_memory_mb",
            "cpu_percent",
            "gpu_memory_mb",
            "retry_count",
            "error_count",
            "last_error_message",
            "reused_from",
            "started_at",
            "finished_at",
            "heartbeat_at",
        ]


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


class VideoDetailSerializer(VideoListSerializer):
    latest_job = serializers.SerializerMethodField()

    class Meta(VideoListSerializer.Meta):
        fields = VideoListSerializer.Meta.fields + [
            "mime_type",
            "file_hash",
            "duration_seconds",
            "fps",
            "width",
            "height",
            "frame_count",
            "codec",
            "container",
            "rotation",
            "has_audio",
            "annotations_count",
            "total_processing_seconds",
            "frames_per_second_processed",
            "last_error_message",
            "needs_review",
            "last_event_seq",
            "priority",
            "source_url",
            "latest_job",
            "timeline",
            "latest_errors",
        ]

    @extend_schema_field(JobSummarySerializer(allow_null=True))
    def get_latest_job(self, video: Video) -> dict | None:
        job = video_latest_job(video=video)
        return JobSummarySerializer(job).data if job else None

    timeline = serializers.SerializerMethodField(help_text="Every workflow state change, oldest first")
    latest_errors = serializers.SerializerMethodField(help_text="The latest errors logged for this video")

    @extend_schema_field(StateTransitionSerializer(many=True))
    def get_timeline(self, video: Video) -> list:
        rows = getattr(video, "timeline", None)
        if rows is None:
            rows = video.state_transitions.order_by("id")
        return StateTransitionSerializer(rows, many=True).data

    @extend_schema_field(VideoErrorSummarySerializer(many=True))
    def get_latest_errors(self, video: Video) -> list:
        rows = getattr(video, "latest_errors", None)
        if rows is None:
            rows = video.errors.order_by("-created_at")[:5]
        return VideoErrorSummarySerializer(rows, many=True).data


class DetectionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Detection
        fields = [
            "id",
            "job_id",
            "frame_index",
            "timestamp_seconds",
            "class_id",
            "class_name",
            "confidence",
            "track_id",
            "x1",
            "y1",
            "x2",
            "y2",
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
