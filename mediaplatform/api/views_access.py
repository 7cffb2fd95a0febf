"""The caller's own API keys: create (the key is shown once), list, revoke."""

import logging

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from mediaplatform.api.errors import ApiError
from videos.models_access import ApiKey
from videos.serializers import ApiKeyCreatedSerializer, ApiKeyCreateSerializer, ApiKeySerializer
from videos.services.access import ApiKeyRefused, api_key_create, api_key_revoke

logger = logging.getLogger(__name__)


class ApiKeyListCreateView(generics.ListAPIView):
    serializer_class = ApiKeySerializer
    allow_viewer_writes = True  # a viewer manages their own keys

    def get_queryset(self):
        return ApiKey.objects.filter(user=self.request.user).order_by("-created_at", "-id")

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer})
    def post(self, request):
        serializer = ApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            row, key = api_key_create(user=request.user, **serializer.validated_data)
        except ApiKeyRefused as refused:
            raise ApiError(status_code=refused.status_code, code=refused.code, message=refused.message)
        body = ApiKeyCreatedSerializer(row).data
        body["key"] = key
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyDetailView(generics.RetrieveDestroyAPIView):
    serializer_class = ApiKeySerializer
    allow_viewer_writes = True

    def get_object(self):
        row = ApiKey.objects.filter(user=self.request.user, pk=self.kwargs["key_id"]).first()
        if row is None:
            raise ApiError(status_code=404, code="not_found", message="No such API key.")
        return row

    @extend_schema(responses={204: None})
    def delete(self, request, key_id):
        try:
            api_key_revoke(user=request.user, key_id=key_id)
        except ApiKey.DoesNotExist:
            raise ApiError(status_code=404, code="not_found", message="No such API key.")
        return Response(status=status.HTTP_204_NO_CONTENT)
