from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from mediaplatform.api.errors import ApiError
from notifications.models import WebhookEndpoint
from notifications.serializers import (
    WebhookDeliverySerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointSerializer,
)
from notifications.services.webhooks import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
)


def _own_endpoint(request, endpoint_id) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id, owner=request.user).first()
    if endpoint is None:
        raise ApiError(status_code=404, code="not_found", message="No such webhook.")
    return endpoint


class WebhookListCreateView(generics.ListAPIView):
    serializer_class = WebhookEndpointSerializer

    def get_queryset(self):
        return WebhookEndpoint.objects.filter(owner=self.request.user)

    @extend_schema(request=WebhookEndpointSerializer, responses={201: WebhookEndpointCreatedSerializer})
    def post(self, request):
        serializer = WebhookEndpointSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_create(
            owner=request.user,
            url=serializer.validated_data["url"],
            event_types=serializer.validated_data.get("event_types"),
            description=serializer.validated_data.get("description", ""),
        )
        return Response(WebhookEndpointCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class WebhookDetailView(generics.RetrieveDestroyAPIView):
    serializer_class = WebhookEndpointSerializer

    def get_object(self):
        return _own_endpoint(self.request, self.kwargs["endpoint_id"])

    def perform_destroy(self, instance):
        webhook_endpoint_delete(endpoint=instance, actor=self.request.user)


class WebhookDeliveryListView(generics.ListAPIView):
    serializer_class = WebhookDeliverySerializer

    def get_queryset(self):
        endpoint = _own_endpoint(self.request, self.kwargs["endpoint_id"])
        return endpoint.deliveries.prefetch_related("attempt_log").order_by("-created_at")
