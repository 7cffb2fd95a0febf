from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mediaplatform.api.fields import column_integer_field
from processing.annotations import FORMATS
from processing.models import DetectorModel, Evaluation, JobOrigin, ProcessingErrorLog, ProcessingJob
from videos.serializers import JobSummarySerializer


class JobCreateSerializer(serializers.Serializer):
    model = serializers.CharField(
        required=False, allow_blank=True, max_length=100, help_text="A registered model's name"
    )
    frame_step = column_integer_field(ProcessingJob, "frame_step", min_value=1, max_value=10_000, default=1)
    start_frame = column_integer_field(ProcessingJob, "start_frame", required=False, default=0)
    end_frame = column_integer_field(ProcessingJob, "end_frame", required=False, allow_null=True, default=None)
    max_fps = serializers.FloatField(min_value=0.01, max_value=1000, required=False, allow_null=True, default=None)
    track = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        if attrs.get("end_frame") is not None and attrs["end_frame"] < attrs.get("start_frame", 0):
            raise serializers.ValidationError({"end_frame": "end_frame must not come before start_frame."})
        if attrs.get("model") and not DetectorModel.objects.filter(name=attrs["model"]).exists():
            raise serializers.ValidationError({"model": f"No registered model is called {attrs['model']!r}."})
        return attrs


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


class JobSerializer(JobSummarySerializer):
    video_id = serializers.UUIDField(read_only=True)
    origin = serializers.ChoiceField(
        choices=JobOrigin.choices,
        read_only=True,
        help_text="run: boxes found by a detector; import: reference annotations uploaded as ground truth",
    )
    reference = serializers.SerializerMethodField(help_text="For an import: what was read from the file")

    class Meta(JobSummarySerializer.Meta):
        fields = ["video_id", "origin", *JobSummarySerializer.Meta.fields, "reference"]

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
