from django.contrib import admin

from accounts.models import AccountProfile, ApiKey
from audit.admin_mixins import AuditedAdminMixin


@admin.register(AccountProfile)
class AccountProfileAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Where staff set a user's role."""

    list_display = ["user", "role"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email"]
    raw_id_fields = ["user"]
    list_select_related = ["user"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are seen here, not made or changed: a key is shown once, to its owner, by the API that creates it."""

    list_display = ["name", "prefix", "user", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at", "created_at"]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user"]
    exclude = ["key_hash"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
