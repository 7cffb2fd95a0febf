"""The caller's credentials: API tokens (sign in, rotate), API keys (create, shown once; list; revoke) and
single-use websocket tickets."""

import logging

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, generics, serializers, status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.credentials import credential_of_request
from accounts.models import ApiKey
from accounts.selectors import api_key_of_user, api_keys_of_user
from accounts.serializers import ApiKeyCreatedSerializer, ApiKeyCreateSerializer, ApiKeySerializer
from accounts.services.api_keys import api_key_create, api_key_revoke
from accounts.services.api_tokens import api_token_expires_at, api_token_for_sign_in, api_token_rotate
from accounts.sign_in import (
    SignInUsernameThrottle,
    attempted_username,
    sign_in_blocked,
    sign_in_failure_record,
    sign_in_success_reset,
)
from accounts.tickets import ws_ticket_issue
from mediaplatform.api.errors import ApiError
from mediaplatform.api.parsers import BoundedJSONParser
from mediaplatform.api.throttling import AddressRateThrottle

logger = logging.getLogger(__name__)


class ApiKeyListCreateView(generics.ListAPIView):
    serializer_class = ApiKeySerializer
    allow_viewer_writes = True  # a viewer manages their own keys

    def get_queryset(self):
        return api_keys_of_user(user=self.request.user)

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer})
    def post(self, request):
        serializer = ApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        row, key = api_key_create(user=request.user, **serializer.validated_data)
        body = ApiKeyCreatedSerializer(row).data
        body["key"] = key
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyDetailView(generics.RetrieveDestroyAPIView):
    serializer_class = ApiKeySerializer
    allow_viewer_writes = True

    def get_object(self):
        row = api_key_of_user(user=self.request.user, key_id=self.kwargs["key_id"])
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


ApiTokenSerializer = inline_serializer(
    name="ApiToken",
    fields={"token": serializers.CharField(), "expires_at": serializers.DateTimeField(allow_null=True)},
)


def _token_body(token) -> dict:
    expires_at = api_token_expires_at(token=token)
    return {"token": token.key, "expires_at": expires_at.isoformat() if expires_at else None}


class ApiTokenObtainView(ObtainAuthToken):
    """`POST /api/v1/auth/token/` with username and password: the user's API token and when it expires.

    Attempts are limited per address and per username tried, and failed ones count with the sign-in page's:
    past the limit this answers 429 without checking the password, and a lockout earned here holds on the
    sign-in page and the other way round. Any Authorization header is ignored: every caller counts as an
    anonymous address.
    """

    authentication_classes = []
    permission_classes = []
    throttle_classes = [AddressRateThrottle, SignInUsernameThrottle]
    parser_classes = [FormParser, MultiPartParser, BoundedJSONParser]  # DRF's own list has its JSONParser

    @extend_schema(request=AuthTokenSerializer, responses={200: ApiTokenSerializer}, auth=[])
    def post(self, request, *args, **kwargs):
        address, username = request.META.get("REMOTE_ADDR", ""), attempted_username(request)
        if sign_in_blocked(address=address, username=username):
            logger.warning("token sign-in refused for %r from %s: too many failed attempts", username[:150], address)
            raise ApiError(
                status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                code="too_many_failed_sign_ins",
                message="Too many failed sign-ins; try again later.",
                retry_after=settings.SIGN_IN_FAILURE_WINDOW_SECONDS,
            )
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            sign_in_failure_record(address=address, username=username)
            raise exceptions.ValidationError(serializer.errors)
        sign_in_success_reset(address=address, username=username)
        token = api_token_for_sign_in(user=serializer.validated_data["user"])
        return Response(_token_body(token))


class ApiTokenRotateView(APIView):
    """`POST /api/v1/auth/token/rotate/`: a new API token for the caller; the old one stops working at once."""

    allow_viewer_writes = True  # a viewer manages their own credentials

    @extend_schema(request=None, responses={200: ApiTokenSerializer})
    def post(self, request):
        token = api_token_rotate(user=request.user)
        logger.info("API token rotated by user %s", request.user.pk)
        return Response(_token_body(token))


class WebsocketTicketView(APIView):
    """`POST /api/v1/ws-ticket/`: a single-use ticket for `?ticket=` on a websocket URL, bound to the caller
    and to the credential this request came with."""

    allow_viewer_writes = True  # viewers follow their videos live too

    @extend_schema(
        request=None,
        responses={
            201: inline_serializer(
                name="WebsocketTicket",
                fields={"ticket": serializers.CharField(), "expires_in": serializers.IntegerField()},
            )
        },
    )
    def post(self, request):
        ticket = ws_ticket_issue(user=request.user, credential=credential_of_request(request))
        return Response(
            {"ticket": ticket, "expires_in": settings.WS_TICKET_TTL_SECONDS}, status=status.HTTP_201_CREATED
        )
