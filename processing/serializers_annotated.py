"""Annotated video renders as the API reads and shows them."""

from urllib.parse import urlencode

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mediaplatform.api.strict import StrictJsonTypesMixin
from processing.models import AnnotatedVideo

MAX_CLASSES = 200  # more than any registered model names


class AnnotatedVideoOptionsSerializer(StrictJsonTypesMixin, serializers.Serializer):
    """What to draw. The same options on the same run name the same file (a repeat does not render again)."""

    classes = serializers.ListField(
        child=serializers.CharField(max_length=100),
        max_length=MAX_CLASSES,
        required=False,
        default=list,
        help_text="Class names to draw, from the run's model; empty or absent: every class. "
        "In a query string, repeat the parameter: ?classes=person&classes=car",
    )
    min_confidence = serializers.FloatField(
        min_value=0.0, max_value=1.0, required=False, default=0.0, help_text="Draw only boxes at least this confident"
    )
    trails = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Draw each track's recent path (tracked runs; ignored for a run without track ids)",
    )


class AnnotatedVideoSerializer(serializers.ModelSerializer):
    job = serializers.UUIDField(source="job_id", read_only=True)
    options = AnnotatedVideoOptionsSerializer(read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = AnnotatedVideo
        fields = [
            "id",
            "job",
            "status",
            "options",
            "progress_percentage",
            "frames_done",
            "frames_total",
            "size_bytes",
            "error",
            "download_url",
            "created_at",
            "updated_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_download_url(self, render: AnnotatedVideo) -> str:
        """GET it: 202 with this body while rendering, 200 with the MP4 once ready."""
        return annotated_video_url(render)


def annotated_video_url(render: AnnotatedVideo) -> str:
    options = render.options
    query = [("classes", name) for name in options.get("classes", [])]
    query += [("min_confidence", options.get("min_confidence", 0.0)), ("trails", str(options.get("trails")).lower())]
    return f"/api/v1/jobs/{render.job_id}/annotated-video/?{urlencode(query)}"


class AnnotatedVideoChoicesSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    job_status = serializers.CharField(help_text="Only a completed run can be rendered")
    classes = serializers.ListField(child=serializers.CharField(), help_text="Class names `classes` may name")
    tracked = serializers.BooleanField(help_text="Whether the run has track ids, so `trails` draws anything")
