from django.conf import settings
from django.db import models


class AuditLogEntry(models.Model):
    """Who changed what, from which value to which, and when. Append-only."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_label = models.CharField(
        max_length=255, blank=True, help_text="The credential used (e.g. an API key), or who acted when not a user"
    )
    action = models.CharField(max_length=60, db_index=True)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    old_values = models.JSONField(default=dict, blank=True)
    new_values = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    request_id = models.CharField(max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit log entries"
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id}"


class StorageOperationType(models.TextChoices):
    UPLOAD = "upload", "Upload"
    DOWNLOAD = "download", "Download"
    DELETE = "delete", "Delete"
    ACCESS = "access", "Access"
    COPY = "copy", "Copy between backends"


class StorageOperation(models.Model):
    """One operation on stored media: what, how big, how long, whether it worked."""

    operation = models.CharField(max_length=10, choices=StorageOperationType.choices, db_index=True)
    path = models.CharField(max_length=500)
    video_id = models.UUIDField(null=True, blank=True, db_index=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    success = models.BooleanField(default=True)
    error_message = models.TextField(blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.operation} {self.path} ({'ok' if self.success else 'failed'})"
