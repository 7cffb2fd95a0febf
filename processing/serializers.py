import math

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mediaplatform.api.fields import column_integer_field
from mediaplatform.api.strict import StrictJsonTypesMixin
from processing.annotations import FORMATS
from processing.models import (
    Detection,
    DetectorModel,
    Evaluation,
    JobOrigin,
    JobStage,
    ProcessingErrorLog,
    ProcessingJob,
)
from processing.selectors import video_latest_job
from videos.models import Video
from videos.selectors_playback import playback_fields
from videos.serializers import (
    RunOptionsSerializer,
    StateTransitionSerializer,
    VideoListSerializer,
)


class JobCreateSerializer(RunOptionsSerializer):
    """Another run's options (`RunOptionsSerializer`)."""


class ReferenceSummarySerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=FORMATS)
    filename = serializers.CharField()
    sha256 = serializers.CharField()
    size_bytes = serializers.IntegerField()
    boxes = serializers.IntegerField()
    frames = serializers.IntegerField()
    classes = serializers.DictField(child=serializers.CharField(), help_text="Class id to name, as stored")
    classes_unknown_to_the_model = serializers.ListField(child=serializers.CharField())
    clipped_boxes = serializers.IntegerField(help_text="Boxes cut at the frame's edge")
    skipped = serializers.DictField(
        child=serializers.IntegerField(), help_text="Entries left out: `crowd` (COCO), `ignored` (MOT conf 0)"
    )


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
            "classes",
            "confidence",
            "priority",
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


class PlaybackSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["original", "rendition", "none"])
    url = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)
    time_offset = serializers.FloatField()
    rotation_applied = serializers.IntegerField()
    checked = serializers.BooleanField(help_text="Whether the worker has looked at the file yet")
    download_url = serializers.CharField(allow_null=True)


class ThumbnailsSerializer(serializers.Serializer):
    sprite_url = serializers.CharField()
    tile_width = serializers.IntegerField()
    tile_height = serializers.IntegerField()
    columns = serializers.IntegerField()
    interval_seconds = serializers.FloatField()
    times = serializers.ListField(child=serializers.FloatField())


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
            "playback",
            "thumbnails",
        ]

    playback = serializers.SerializerMethodField(
        help_text="What the player loads: `url`, `kind` (original, rendition or none), `reason` when none (or while "
        "unchecked), `time_offset` (seconds added to the player's clock give the detections' timestamps), "
        "`rotation_applied`, `download_url` of the original"
    )
    thumbnails = serializers.SerializerMethodField(
        help_text="Seek-bar stills in one JPEG sprite: `sprite_url`, `tile_width`, `tile_height`, `columns`, "
        "`interval_seconds` and each tile's `times` (left to right, row by row); null until made"
    )

    @extend_schema_field(PlaybackSerializer)
    def get_playback(self, video: Video) -> dict:
        return playback_fields(video)["playback"]

    @extend_schema_field(ThumbnailsSerializer(allow_null=True))
    def get_thumbnails(self, video: Video) -> dict | None:
        return playback_fields(video)["thumbnails"]

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


class JobSerializer(JobSummarySerializer):
    video_id = serializers.UUIDField(read_only=True)
    origin = serializers.ChoiceField(
        choices=JobOrigin.choices,
        read_only=True,
        help_text="run: boxes found by a detector; import: reference annotations uploaded as ground truth",
    )
    reference = serializers.SerializerMethodField(help_text="For an import: what was read from the file")
    backend = serializers.CharField(
        source="inference_backend",
        read_only=True,
        help_text="Runtime that ran the model (torch, onnx, openvino); empty until inference starts",
    )
    precision = serializers.CharField(
        source="inference_precision",
        read_only=True,
        help_text="Numeric precision the model ran at (f32, f16, bf16, int8); empty until inference starts",
    )

    class Meta(JobSummarySerializer.Meta):
        fields = ["video_id", "origin", *JobSummarySerializer.Meta.fields, "reference", "backend", "precision"]

    @extend_schema_field(ReferenceSummarySerializer(allow_null=True))
    def get_reference(self, job: ProcessingJob) -> dict | None:
        if job.origin != JobOrigin.IMPORT:
            return None
        return (job.config or {}).get("reference")


class JobListFilterSerializer(serializers.Serializer):
    origin = serializers.ChoiceField(
        choices=JobOrigin.choices, required=False, help_text="Only runs (`run`) or only imported references (`import`)"
    )


class ReferenceImportSerializer(StrictJsonTypesMixin, serializers.Serializer):
    file = serializers.FileField(
        use_url=False,
        help_text=(
            "COCO detection JSON or MOT Challenge CSV (frame,id,left,top,width,height[,conf,class,visibility]; "
            "frames from 1). Boxes reaching past the frame are clipped to it; a box wholly outside is refused."
        ),
    )
    format = serializers.ChoiceField(
        choices=FORMATS,
        required=False,
        help_text="Default: by extension (.json COCO, .csv/.txt MOT), else by content",
    )
    classes = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=20_000,
        help_text=(
            "MOT only: the class names by class number, comma-separated (class 1 first) or a JSON object "
            '{"1": "name"}. Default: the model\'s classes, class number = model class id + 1. '
            "Ignored for COCO, whose categories carry names."
        ),
    )


class ErrorLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProcessingErrorLog
        fields = [
            "id",
            "job_id",
            "stage",
            "error_type",
            "error_code",
            "message",
            "recovery_strategy",
            "severity",
            "correlation_id",
            "system_state",
            "created_at",
        ]


class DetectorModelSerializer(serializers.ModelSerializer):
    class Meta:
        model = DetectorModel
        fields = [
            "id",
            "name",
            "version",
            "framework",
            "sha256",
            "class_names",
            "input_size",
            "is_default",
            "description",
            "created_at",
        ]
        read_only_fields = fields


class DetectorModelCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    version = serializers.CharField(max_length=50, default="1")
    weights = serializers.FileField(help_text="PyTorch weights (.pt)")
    input_size = column_integer_field(DetectorModel, "input_size", min_value=32, max_value=4096, default=640)
    is_default = serializers.BooleanField(default=False)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class DetectorModelUpdateSerializer(StrictJsonTypesMixin, serializers.Serializer):
    input_size = column_integer_field(DetectorModel, "input_size", min_value=32, max_value=4096, required=False)
    is_default = serializers.BooleanField(required=False)
    description = serializers.CharField(required=False, allow_blank=True)


class EvaluationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Evaluation
        fields = [
            "id",
            "job_id",
            "reference_job_id",
            "status",
            "iou_threshold",
            "precision",
            "recall",
            "map50",
            "map50_95",
            "report",
            "error_message",
            "created_at",
            "finished_at",
        ]


class DetectionSummaryFilterSerializer(serializers.Serializer):
    min_confidence = serializers.FloatField(
        min_value=0.0, max_value=1.0, default=0.0, help_text="Count only boxes at or above this confidence"
    )

    def validate_min_confidence(self, value: float) -> float:
        # NaN passes both bounds (every comparison with it is false).
        if math.isnan(value):
            raise serializers.ValidationError("A number from 0 to 1 is required.")
        return value


class DetectionSpanSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    first_frame = serializers.IntegerField()
    last_frame = serializers.IntegerField()
    first_seconds = serializers.FloatField()
    last_seconds = serializers.FloatField()
    max_confidence = serializers.FloatField()


class ClassSpanSerializer(DetectionSpanSerializer):
    class_name = serializers.CharField()


class TrackSpanSerializer(DetectionSpanSerializer):
    track_id = serializers.IntegerField()
    class_name = serializers.CharField(help_text="The track's most frequent class")


class DetectionSummarySerializer(serializers.Serializer):
    """The schema of processing.selectors_detections.detection_summary_for_job's answer."""

    job_id = serializers.UUIDField()
    job_status = serializers.CharField()
    tracked = serializers.BooleanField()
    min_confidence = serializers.FloatField()
    boxes = serializers.IntegerField()
    classes = ClassSpanSerializer(many=True, help_text="Most frequent first, at most 200")
    tracks = TrackSpanSerializer(many=True, help_text="In order of appearance, at most 500")
    tracks_total = serializers.IntegerField(help_text="Every track of the run, listed or not")
