from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mediaplatform.api.fields import column_integer_field
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


class ReferenceImportSerializer(serializers.Serializer):
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


class DetectorModelUpdateSerializer(serializers.Serializer):
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
