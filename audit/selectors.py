"""Reads of the audit trail."""

from django.db.models import Q, QuerySet

from audit.models import AuditLogEntry


def audit_entry_list(
    *,
    action: str = "",
    object_type: str = "",
    object_id: str = "",
    request_id: str = "",
    actor: str = "",
    search: str = "",
) -> QuerySet[AuditLogEntry]:
    """Entries newest first, narrowed by each filter given (`actor` is a username, `search` free text)."""
    exact = {"action": action, "object_type": object_type, "object_id": object_id, "request_id": request_id}
    entries = AuditLogEntry.objects.select_related("actor").order_by("-created_at", "-id")
    entries = entries.filter(**{field: value for field, value in exact.items() if value})
    if actor:
        entries = entries.filter(actor__username=actor)
    if search:
        entries = entries.filter(
            Q(reason__icontains=search) | Q(object_id__icontains=search) | Q(actor_label__icontains=search)
        )
    return entries
