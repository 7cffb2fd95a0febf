from django.contrib import admin

from audit.models import AuditLogEntry, StorageOperation


class ReadOnlyAdmin(admin.ModelAdmin):
    """Append-only records: staff search them, nobody edits or deletes them here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "action", "object_type", "object_id", "actor", "actor_label", "ip_address"]
    list_filter = ["action", "object_type", "created_at"]
    search_fields = ["object_id", "actor__username", "actor_label", "reason", "request_id", "ip_address"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in AuditLogEntry._meta.fields]


@admin.register(StorageOperation)
class StorageOperationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "operation", "path", "size_bytes", "duration_ms", "success"]
    list_filter = ["operation", "success", "created_at"]
    search_fields = ["path", "video_id", "request_id", "error_message"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in StorageOperation._meta.fields]
