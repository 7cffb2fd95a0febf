from django.contrib import admin

from audit.admin_mixins import AuditedAdminMixin
from notifications.models import Alert, OutboxEvent, WebhookDelivery, WebhookEndpoint


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "video",
        "seq",
        "event_type",
        "priority",
        "status",
        "attempts",
        "next_retry_at",
        "created_at",
        "sent_at",
    ]
    list_filter = ["status", "event_type"]
    search_fields = ["video__id", "video__title"]
    readonly_fields = [field.name for field in OutboxEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["url", "owner", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "owner__username"]
    exclude = ["secret"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "endpoint", "event_type", "status", "attempts", "delivered_at"]
    list_filter = ["status", "event_type"]
    readonly_fields = [field.name for field in WebhookDelivery._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    """Open and past alerts; only the evaluation opens and resolves them."""

    list_display = [
        "opened_at",
        "check_name",
        "severity",
        "status",
        "value",
        "threshold",
        "window_seconds",
        "peak_value",
        "last_value",
        "resolved_at",
    ]
    list_filter = ["status", "severity", "check_name"]
    date_hierarchy = "opened_at"
    readonly_fields = [field.name for field in Alert._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
