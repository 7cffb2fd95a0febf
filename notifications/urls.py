from django.urls import path

from notifications import views

urlpatterns = [
    path("", views.WebhookListCreateView.as_view(), name="webhook-list"),
    path("<int:endpoint_id>/", views.WebhookDetailView.as_view(), name="webhook-detail"),
    path("<int:endpoint_id>/deliveries/", views.WebhookDeliveryListView.as_view(), name="webhook-deliveries"),
]
