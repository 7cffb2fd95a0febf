"""Admin changes leave audit rows as well as Django's own LogEntry."""

from django.forms.models import model_to_dict

from audit.services import audit_record, jsonable_values


class AuditedAdminMixin:
    def log_addition(self, request, obj, message):
        audit_record(action="admin.add", obj=obj, actor=request.user, new_values=jsonable_values(model_to_dict(obj)))
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        audit_record(
            action="admin.change",
            obj=obj,
            actor=request.user,
            new_values=jsonable_values(model_to_dict(obj)),
            reason=str(message)[:2000],
        )
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            audit_record(
                action="admin.delete", obj=obj, actor=request.user, old_values=jsonable_values(model_to_dict(obj))
            )
        return super().log_deletions(request, queryset)
