"""The catalog and model installs as the API shows them."""

from rest_framework import serializers

from mediaplatform.api.strict import StrictJsonTypesMixin
from processing.models import ModelInstall


class CatalogModelSerializer(serializers.Serializer):
    name = serializers.CharField()
    file_name = serializers.CharField()
    file_size_mb = serializers.FloatField()
    parameters_m = serializers.FloatField()
    input_size = serializers.IntegerField()
    class_names = serializers.ListField(child=serializers.CharField())
    cpu_fps = serializers.FloatField()
    cpu_fps_measured_on = serializers.CharField()
    installed = serializers.BooleanField()


class ModelInstallRequestSerializer(StrictJsonTypesMixin, serializers.Serializer):
    name = serializers.CharField(max_length=100)
    is_default = serializers.BooleanField(default=False)


class ModelInstallSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelInstall
        fields = [
            "id",
            "source",
            "catalog_name",
            "url",
            "make_default",
            "status",
            "bytes_done",
            "bytes_total",
            "sha256",
            "error_code",
            "error",
            "detector_model",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
