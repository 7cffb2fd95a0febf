from rest_framework import serializers

from mediaplatform.api.fields import HttpUrlField
from mediaplatform.api.strict import StrictJsonTypesMixin
from notifications.models import EventType, WebhookAttempt, WebhookDelivery, WebhookEndpoint


class WebhookEndpointSerializer(StrictJsonTypesMixin, serializers.ModelSerializer):
    url = HttpUrlField(max_length=2000)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices), required=False, allow_empty=True
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "event_types", "description", "is_active", "created_at"]
        read_only_fields = ["id", "is_active", "created_at"]


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    """Answer to a registration: the only time the signing secret is shown."""

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["number", "response_status", "response_excerpt", "error", "duration_ms", "created_at"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    attempt_log = WebhookAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event_type",
            "video_id",
            "status",
            "attempts",
            "next_retry_at",
            "delivered_at",
            "created_at",
            "attempt_log",
        ]
