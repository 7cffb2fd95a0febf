"""Websocket authentication. Long-lived credentials never ride in the URL, where access logs keep them.

A socket authenticates with, in this order:
- a ticket, `?ticket=<ticket>` from `POST /api/v1/ws-ticket/`: single use, valid WS_TICKET_TTL_SECONDS;
- a credential in the `Sec-WebSocket-Protocol` header, offered next to the `mediaplatform` protocol, which the
  server selects: `mediaplatform, token.<api token>` or `mediaplatform, api-key.<api key>`;
- the Django session cookie (the browser's pages).
A ticket or header credential that does not authenticate refuses the socket even when a session cookie came
along. `?token=` (or `?api_key=`, `?key=`) is refused outright, whatever it holds.

The middleware puts in the scope `user`, the `credential` it authenticated with (accounts.credentials)
and, when the request must be refused for how it was made, `credential_refusal` (a message for the client).
"""

import logging
from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.credentials import (
    API_KEY,
    SESSION,
    TOKEN,
    SocketCredential,
    api_key_revocation_id,
    session_revocation_id,
    token_revocation_id,
)
from accounts.models import ApiKey, api_key_hash
from accounts.services.api_tokens import api_token_expires_at, api_token_is_expired
from accounts.tickets import ws_ticket_redeem

logger = logging.getLogger(__name__)

PROTOCOL = "mediaplatform"
PROTOCOL_CREDENTIAL_PREFIXES = {f"{TOKEN}.": TOKEN, f"{API_KEY}.": API_KEY}
URL_CREDENTIAL_PARAMETERS = ("token", "api_key", "key")
URL_CREDENTIAL_REFUSAL = (
    "credentials are refused in websocket URLs: use a ticket from POST /api/v1/ws-ticket/ (?ticket=...) or send "
    "the token in the Sec-WebSocket-Protocol header ('mediaplatform, token.<token>')"
)
Anonymous = tuple[AnonymousUser, None]


def _anonymous() -> Anonymous:
    return AnonymousUser(), None


def _credential_still_valid(user_id: int, credential: SocketCredential) -> bool:
    """A ticket outlives nothing: the token or key that asked for it must still be the user's and unexpired."""
    if credential.expires_at is not None and credential.expires_at <= timezone.now():
        return False
    if credential.kind == TOKEN:
        token = Token.objects.filter(user_id=user_id).first()
        return token is not None and token_revocation_id(token.key) == credential.revocation_id
    if credential.kind == API_KEY:
        key = ApiKey.objects.filter(user_id=user_id, pk=credential.revocation_id.removeprefix(f"{API_KEY}:")).first()
        return key is not None and key.is_active
    return True  # a session ended meanwhile closes the socket through its sign-out


def _user_for_ticket(ticket: str):
    redeemed = ws_ticket_redeem(ticket=ticket)
    if redeemed is None:
        logger.warning("websocket refused: unknown, expired or spent ticket")
        return _anonymous()
    user_id, credential = redeemed
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or not _credential_still_valid(user_id, credential):
        logger.warning("websocket refused: the credential that asked for the ticket has ended (user %s)", user_id)
        return _anonymous()
    return user, credential


def _user_for_token(key: str):
    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        logger.warning("websocket refused: unknown API token")
        return _anonymous()
    if api_token_is_expired(token=token):
        logger.warning("websocket refused: expired API token of user %s", token.user_id)
        return _anonymous()
    credential = SocketCredential(
        kind=TOKEN, revocation_id=token_revocation_id(token.key), expires_at=api_token_expires_at(token=token)
    )
    return token.user, credential


def _user_for_api_key(presented: str):
    key = ApiKey.objects.select_related("user").filter(key_hash=api_key_hash(presented)).first()
    if key is None or not key.user.is_active or not key.is_active:
        logger.warning("websocket refused: unknown, revoked or expired API key (prefix %s)", presented[3:11])
        return _anonymous()
    return key.user, SocketCredential(
        kind=API_KEY, revocation_id=api_key_revocation_id(key.pk), expires_at=key.expires_at
    )


def protocol_credential(subprotocols: list[str]) -> tuple[str, str] | None:
    """(kind, secret) of the first credential offered in Sec-WebSocket-Protocol, if any."""
    for offered in subprotocols:
        for prefix, kind in PROTOCOL_CREDENTIAL_PREFIXES.items():
            if offered.startswith(prefix):
                return kind, offered.removeprefix(prefix)
    return None


@database_sync_to_async
def _authenticate(*, ticket: str | None, offered: tuple[str, str] | None):
    if ticket is not None:
        return _user_for_ticket(ticket)
    kind, secret = offered
    return _user_for_token(secret) if kind == TOKEN else _user_for_api_key(secret)


class _CredentialMiddleware:
    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        offered = protocol_credential(scope.get("subprotocols") or [])
        refusal = None
        if any(name in query for name in URL_CREDENTIAL_PARAMETERS):
            logger.warning("websocket refused: a credential in the URL (%s)", scope.get("path", ""))
            user, credential, refusal = AnonymousUser(), None, URL_CREDENTIAL_REFUSAL
        elif "ticket" in query or offered is not None:
            ticket = query["ticket"][0] if "ticket" in query else None
            user, credential = await _authenticate(ticket=ticket, offered=offered)
        else:
            user, credential = scope.get("user") or AnonymousUser(), None
            if user.is_authenticated:
                session = scope.get("session")
                session_key = getattr(session, "session_key", None) or ""
                credential = SocketCredential(kind=SESSION, revocation_id=session_revocation_id(session_key))
        scope = dict(scope, user=user, credential=credential, credential_refusal=refusal)
        return await self.inner(scope, receive, send)


def SessionOrTokenAuthMiddleware(inner):  # noqa: N802 - named like the middleware classes it composes
    """Session auth first; a ticket or a Sec-WebSocket-Protocol credential, when given, decides the user."""
    return AuthMiddlewareStack(_CredentialMiddleware(inner))
