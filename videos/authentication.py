"""`Authorization: Api-Key <key>`: keys are looked up by the SHA-256 of the presented key."""

import logging

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from videos.models_access import ApiKey, api_key_hash

logger = logging.getLogger(__name__)

KEYWORD = "Api-Key"
LAST_USED_RESOLUTION_SECONDS = 60  # last_used_at is written at most once a minute per key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != KEYWORD.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send the key as 'Authorization: Api-Key <key>'.")
        try:
            presented = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("The API key is not valid.")
        key = ApiKey.objects.select_related("user").filter(key_hash=api_key_hash(presented)).first()
        if key is None or not key.user.is_active:
            logger.warning("unknown API key presented (prefix %s)", presented[3:11])
            raise exceptions.AuthenticationFailed("The API key is not valid.")
        if not key.is_active:
            raise exceptions.AuthenticationFailed("The API key is revoked or expired.")
        now = timezone.now()
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        return key.user, key

    def authenticate_header(self, request):
        return KEYWORD


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents `Authorization: Api-Key <key>` in the OpenAPI schema."""

    target_class = "videos.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`: a key created at /api/v1/api-keys/",
        }
