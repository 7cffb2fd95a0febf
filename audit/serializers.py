from rest_framework import serializers

from audit.models import AuditLogEntry


class AuditLogEntrySerializer(serializers.ModelSerializer):
    # Null for what the platform did on its own (retention, the beat), and once the user is deleted.
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

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
