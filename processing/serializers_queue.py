"""The run queue's API shapes: filters of the cross-video run list, a priority change, usage and storage figures."""

from rest_framework import serializers

from mediaplatform.api.strict import StrictJsonTypesMixin
from processing.models import JobOrigin, JobPriority, JobStatus


class JobQueueFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=JobStatus.choices, required=False)
    origin = serializers.ChoiceField(
        choices=JobOrigin.choices, required=False, help_text="Only runs (`run`) or only imported references (`import`)"
    )
    model = serializers.CharField(required=False, max_length=200, help_text="The model's name, as runs record it")
    priority = serializers.ChoiceField(choices=JobPriority.choices, required=False)
    video = serializers.UUIDField(required=False, help_text="Only the runs of this video")
    created_after = serializers.DateTimeField(required=False, help_text="Created at or after (ISO 8601)")
    created_before = serializers.DateTimeField(required=False, help_text="Created before (ISO 8601)")

    def validate(self, attrs):
        after, before = attrs.get("created_after"), attrs.get("created_before")
        if after and before and before <= after:
            raise serializers.ValidationError({"created_before": ["created_before must come after created_after."]})
        return attrs


class JobPriorityUpdateSerializer(StrictJsonTypesMixin, serializers.Serializer):
    whole_on_patch = True  # PATCH takes the field: a body without it is refused

    priority = serializers.ChoiceField(
        choices=JobPriority.choices, help_text="How soon the run starts when runs wait for a worker"
    )


class UsageRangeSerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False, help_text="From this time (ISO 8601); default: the beginning")
    until = serializers.DateTimeField(required=False, help_text="Before this time (ISO 8601); default: now")

    def validate(self, attrs):
        since, until = attrs.get("since"), attrs.get("until")
        if since and until and until <= since:
            raise serializers.ValidationError({"until": ["until must come after since."]})
        return attrs


class UsageSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    videos = serializers.IntegerField(help_text="Videos uploaded in the range and not deleted")
    bytes_stored = serializers.IntegerField(help_text="Bytes of those videos' originals")
    processing_seconds = serializers.FloatField(help_text="Wall time of runs that finished in the range")
    runs = serializers.IntegerField(help_text="Runs that finished in the range")
    detections = serializers.IntegerField(help_text="Boxes those runs stored")


class StorageStateSerializer(serializers.Serializer):
    state = serializers.CharField()
    videos = serializers.IntegerField()
    bytes = serializers.IntegerField()


class StorageOperationSummarySerializer(serializers.Serializer):
    operation = serializers.CharField()
    path = serializers.CharField()
    video_id = serializers.UUIDField(allow_null=True)
    size_bytes = serializers.IntegerField(allow_null=True)
    duration_ms = serializers.FloatField(allow_null=True)
    success = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class StorageStatisticsSerializer(serializers.Serializer):
    by_state = StorageStateSerializer(many=True)
    failed_operations = serializers.IntegerField()
    latest_failure_at = serializers.DateTimeField(allow_null=True)
    failed_by_operation = serializers.DictField(child=serializers.IntegerField())
    slowest_operations = StorageOperationSummarySerializer(many=True)
