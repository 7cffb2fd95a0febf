from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.permissions import IsAdminUser

from audit.selectors import audit_entry_list
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
        fields = ("action", "object_type", "object_id", "request_id", "actor", "search")
        return audit_entry_list(**{field: params.get(field, "") for field in fields})
