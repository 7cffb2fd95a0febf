from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.permissions import IsAdminUser

from audit.models import AuditLogEntry
from audit.serializers import AuditLogEntrySerializer


@extend_schema(
    parameters=[
        OpenApiParameter("action", str),
        OpenApiParameter("object_type", str),
        OpenApiParameter("object_id", str),
        OpenApiParameter("actor", str, description="username"),
        OpenApiParameter("request_id", str),
        OpenApiParameter("search", str, description="in reasons, object ids, actor labels"),
    ]
)
class AuditLogListView(generics.ListAPIView):
    """The audit trail, newest first. Staff only; read-only by design."""

    serializer_class = AuditLogEntrySerializer
    permission_classes = [IsAdminUser]

    def get_queryset(self):
        params = self.request.query_params
        entries = AuditLogEntry.objects.select_related("actor").order_by("-created_at", "-id")
        for field in ("action", "object_type", "object_id", "request_id"):
            if params.get(field):
                entries = entries.filter(**{field: params[field]})
        if params.get("actor"):
            entries = entries.filter(actor__username=params["actor"])
        if params.get("search"):
            term = params["search"]
            entries = entries.filter(
                Q(reason__icontains=term) | Q(object_id__icontains=term) | Q(actor_label__icontains=term)
            )
        return entries
