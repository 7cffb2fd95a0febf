"""Query parameters of the video list, validated: a bad value answers 400, never a silent default."""

from django.db.models import Q, QuerySet
from rest_framework import serializers

from videos.models import Video, WorkflowState

ORDERINGS = {
    "created_at": "created_at",
    "-created_at": "-created_at",
    "updated_at": "updated_at",
    "-updated_at": "-updated_at",
    "title": "title",
    "-title": "-title",
    "size_bytes": "size_bytes",
    "-size_bytes": "-size_bytes",
    "state": "workflow_state",
    "-state": "-workflow_state",
    "duration": "duration_seconds",
    "-duration": "-duration_seconds",
    "objects": "objects_detected_count",
    "-objects": "-objects_detected_count",
    "owner": "owner__username",
    "-owner": "-owner__username",
}


class VideoListFilterSerializer(serializers.Serializer):
    state = serializers.MultipleChoiceField(
        choices=WorkflowState.choices, required=False, help_text="Workflow state; repeat or comma-separate for several"
    )
    media_type = serializers.CharField(
        required=False, max_length=100, help_text="MIME type (video/mp4) or its family (video)"
    )
    created_from = serializers.DateTimeField(required=False, help_text="Created at or after (ISO 8601)")
    created_to = serializers.DateTimeField(required=False, help_text="Created before (ISO 8601)")
    search = serializers.CharField(required=False, max_length=200, help_text="Words in the title or file name")
    ordering = serializers.ChoiceField(choices=sorted(ORDERINGS), required=False, default="-created_at")

    def to_internal_value(self, data):
        # A blank value reads as absent, as for every optional query parameter (the schema's allowEmptyValue).
        values = {key: data.get(key) for key in self.fields if data.get(key) not in (None, "") and key != "state"}
        states = [s for raw in (data.getlist("state") if hasattr(data, "getlist") else []) for s in raw.split(",")]
        if states:
            values["state"] = [s.strip() for s in states if s.strip()]
        return super().to_internal_value(values)

    def validate(self, attrs):
        if attrs.get("created_from") and attrs.get("created_to") and attrs["created_from"] > attrs["created_to"]:
            raise serializers.ValidationError({"created_to": "created_to must not come before created_from."})
        return attrs


def video_filter(queryset: QuerySet[Video], filters: dict) -> QuerySet[Video]:
    if filters.get("state"):
        queryset = queryset.filter(workflow_state__in=sorted(filters["state"]))
    media_type = filters.get("media_type")
    if media_type:
        if "/" in media_type:
            queryset = queryset.filter(mime_type=media_type)
        else:
            queryset = queryset.filter(mime_type__startswith=f"{media_type}/")
    if filters.get("created_from"):
        queryset = queryset.filter(created_at__gte=filters["created_from"])
    if filters.get("created_to"):
        queryset = queryset.filter(created_at__lt=filters["created_to"])
    if filters.get("search"):
        term = filters["search"]
        queryset = queryset.filter(Q(title__icontains=term) | Q(original_filename__icontains=term))
    ordering = ORDERINGS[filters.get("ordering") or "-created_at"]
    return queryset.order_by(ordering, "-id" if ordering.startswith("-") else "id")
