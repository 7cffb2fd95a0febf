from rest_framework import serializers

from audit.models import AuditLogEntry


class AuditLogEntrySerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = AuditLogEntry
        fields = [
            "id",
            "created_at",
            "action",
            "object_type",
            "object_id",
            "actor",
            "actor_label",
            "old_values",
            "new_values",
            "reason",
            "ip_address",
            "user_agent",
            "request_id",
        ]
