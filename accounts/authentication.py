"""`Authorization: Api-Key <key>`: keys are looked up by the SHA-256 of the presented key.

A key that authenticated is remembered in this process for API_KEY_AUTH_CACHE_SECONDS (default 5), so a busy
client costs one indexed query per key every few seconds instead of one per request. What that allows, and
its bound:

- expiry is checked on every request against the remembered `expires_at`: exact;
- revoking or deleting a key, or deactivating or deleting its user, drops what this process remembered at once
  (model signals, accounts.signals); other server processes notice at their next look-up, at most
  API_KEY_AUTH_CACHE_SECONDS later. So does a change made without signals (a queryset update, SQL);
- unknown, revoked and expired keys are never remembered: each such request asks the database.

API_KEY_AUTH_CACHE_SECONDS = 0 turns the cache off.

`Authorization: Token <key>` (ExpiringTokenAuthentication) is DRF's token, refused once it is older than
API_TOKEN_TTL_DAYS (accounts.services.api_tokens).
"""

import logging
import threading
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts.models import ApiKey, api_key_hash
from accounts.services.api_tokens import api_token_is_expired

logger = logging.getLogger(__name__)

KEYWORD = "Api-Key"
LAST_USED_RESOLUTION_SECONDS = 60  # last_used_at is written at most once a minute per key (and process)
CACHE_MAX_ENTRIES = 10_000  # beyond this the cache starts over: memory stays bounded whatever clients send

# key_hash -> (monotonic time it was read, ApiKey column values, User column values). Plain values, not model
# instances: every request gets fresh instances, so nothing one request caches on its user leaks to the next.
_remembered: dict[str, tuple[float, tuple, tuple]] = {}
_lock = threading.Lock()
clock = time.monotonic  # module attribute so tests can move time forward


def cache_seconds() -> float:
    return float(settings.API_KEY_AUTH_CACHE_SECONDS)


def forget_key(*, key_hash: str) -> None:
    with _lock:
        _remembered.pop(key_hash, None)


def forget_user(*, user_id) -> None:
    with _lock:
        user_column = _columns(ApiKey).index("user_id")
        for key_hash in [h for h, (_at, key, _user) in _remembered.items() if key[user_column] == user_id]:
            del _remembered[key_hash]


def forget_all() -> None:
    with _lock:
        _remembered.clear()


def _columns(model) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]


def _look_up(key_hash: str) -> tuple[tuple, tuple] | None:
    """The key's and its user's column values, in one indexed query (key_hash is unique)."""
    key_columns, user_columns = _columns(ApiKey), _columns(get_user_model())
    row = (
        ApiKey.objects.filter(key_hash=key_hash)
        .values_list(*key_columns, *(f"user__{name}" for name in user_columns))
        .first()
    )
    if row is None:
        return None
    return row[: len(key_columns)], row[len(key_columns) :]


def _remember(key_hash: str, key_values: tuple, user_values: tuple, *, read_at: float) -> None:
    with _lock:
        if len(_remembered) >= CACHE_MAX_ENTRIES:
            _remembered.clear()
        _remembered[key_hash] = (read_at, key_values, user_values)


def _recall(key_hash: str, ttl: float) -> tuple[float, tuple, tuple] | None:
    entry = _remembered.get(key_hash)
    if entry is None or clock() - entry[0] >= ttl:
        return None
    return entry


class ApiKeyAuthentication(authentication.BaseAuthentication):
    # Requests signed with a key are rate limited per key (API_RATE_LIMITS["key"]), not per user.
    rate_limit_scope = "key"

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
        key_hash = api_key_hash(presented)
        ttl = cache_seconds()
        entry = _recall(key_hash, ttl) if ttl > 0 else None
        if entry is not None:
            read_at, found, changed = entry[0], entry[1:], False
        else:
            # Taken before the query: whatever is remembered is never older than this, so the bound holds
            # even when a revocation commits between this read and _remember below.
            read_at, found, changed = clock(), _look_up(key_hash), True
        user_model = get_user_model()
        user = user_model.from_db("default", _columns(user_model), found[1]) if found else None
        if user is None or not user.is_active:
            logger.warning("unknown API key presented (prefix %s)", presented[3:11])
            raise exceptions.AuthenticationFailed("The API key is not valid.")
        key = ApiKey.from_db("default", _columns(ApiKey), found[0])
        if not key.is_active:
            forget_key(key_hash=key_hash)
            raise exceptions.AuthenticationFailed("The API key is revoked or expired.")
        key.user = user
        now = timezone.now()
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
            changed = True
        if ttl > 0 and changed:
            _remember(key_hash, tuple(getattr(key, name) for name in _columns(ApiKey)), found[1], read_at=read_at)
        return user, key

    def authenticate_header(self, request):
        return KEYWORD


class ExpiringTokenAuthentication(authentication.TokenAuthentication):
    """DRF's `Authorization: Token <key>`, refused with 401 `token_expired` once the token has expired."""

    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if api_token_is_expired(token=token):
            logger.warning("expired API token presented by user %s", user.pk)
            raise exceptions.AuthenticationFailed(
                "Token expired: sign in at /api/v1/auth/token/ for a new one.", code="token_expired"
            )
        return user, token


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents `Authorization: Api-Key <key>` in the OpenAPI schema."""

    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`: a key created at /api/v1/api-keys/",
        }
