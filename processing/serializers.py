from rest_framework import serializers

from processing.models import DetectorModel, Evaluation, ProcessingErrorLog
from videos.serializers import JobSummarySerializer


class JobCreateSerializer(serializers.Serializer):
    model = serializers.CharField(required=False, allow_blank=True, help_text="A registered model's name")
    frame_step = serializers.IntegerField(min_value=1, max_value=10_000, required=False, default=1)
    start_frame = serializers.IntegerField(min_value=0, required=False, default=0)
    end_frame = serializers.IntegerField(min_value=0, required=False, allow_null=True, default=None)
    max_fps = serializers.FloatField(min_value=0.01, max_value=1000, required=False, allow_null=True, default=None)
    track = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        if attrs.get("end_frame") is not None and attrs["end_frame"] < attrs.get("start_frame", 0):
            raise serializers.ValidationError({"end_frame": "end_frame must not come before start_frame."})
        if attrs.get("model") and not DetectorModel.objects.filter(name=attrs["model"]).exists():
            raise serializers.ValidationError({"model": f"No registered model is called {attrs['model']!r}."})
        return attrs


class JobSerializer(JobSummarySerializer):
    video_id = serializers.UUIDField(read_only=True)

    class Meta(JobSummarySerializer.Meta):
        fields = ["video_id", *JobSummarySerializer.Meta.fields]


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
    input_size = serializers.IntegerField(min_value=32, max_value=4096, default=640)
    is_default = serializers.BooleanField(default=False)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class DetectorModelUpdateSerializer(serializers.Serializer):
    input_size = serializers.IntegerField(min_value=32, max_value=4096, required=False)
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
