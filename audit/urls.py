from django.urls import path

from audit.views import AuditLogListView

urlpatterns = [path("", AuditLogListView.as_view(), name="audit-log")]
