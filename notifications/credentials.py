"""Which credential opened a websocket, and telling open websockets that a credential is gone.

Every accepted socket joins its user's credentials group and remembers the credential it authenticated with
(a session, an API token or an API key) as a revocation id: a digest or a primary key, never the secret
itself, since these ids travel through Redis. When a credential ends (token deleted or rotated, key revoked
or deleted, sign-out), a `credentials.revoked` message naming its id goes to the group after commit and the
sockets opened with it close; when the user is deactivated, deleted or changes password, the message names no
credential and every socket of that user closes.
"""

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from channels.layers import get_channel_layer
from django.db import transaction

from notifications.services.layer_loop import run_on_layer_loop

logger = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 5
SESSION, TOKEN, API_KEY = "session", "token", "api-key"


@dataclass(frozen=True)
class SocketCredential:
    kind: str  # SESSION, TOKEN or API_KEY
    revocation_id: str
    expires_at: datetime | None = None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:32]


def session_revocation_id(session_key: str) -> str:
    return f"{SESSION}:{_digest(session_key)}"


def token_revocation_id(token_key: str) -> str:
    return f"{TOKEN}:{_digest(token_key)}"


def api_key_revocation_id(api_key_id: int) -> str:
    return f"{API_KEY}:{api_key_id}"


def credentials_group(user_id: int) -> str:
    return f"credentials.{user_id}"


def credential_of_request(request) -> SocketCredential:
    """The credential an authenticated DRF request came with."""
    from rest_framework.authtoken.models import Token

    from videos.api_tokens import api_token_expires_at
    from videos.models_access import ApiKey

    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiKey):
        return SocketCredential(kind=API_KEY, revocation_id=api_key_revocation_id(auth.pk), expires_at=auth.expires_at)
    if isinstance(auth, Token):
        return SocketCredential(
            kind=TOKEN, revocation_id=token_revocation_id(auth.key), expires_at=api_token_expires_at(token=auth)
        )
    return SocketCredential(kind=SESSION, revocation_id=session_revocation_id(request.session.session_key or ""))


async def _group_send(user_id: int, revocation_id: str | None) -> None:
    await get_channel_layer().group_send(
        credentials_group(user_id), {"type": "credentials.revoked", "revocation_id": revocation_id}
    )


def _send_now(user_id: int, revocation_id: str | None) -> None:
    try:
        run_on_layer_loop(_group_send(user_id, revocation_id), timeout=SEND_TIMEOUT_SECONDS)
    except Exception:  # the change itself is committed; a socket still open is logged, not a failed request
        logger.exception("could not tell the websockets of user %s that credential %s ended", user_id, revocation_id)
    else:
        logger.info("websockets of user %s told that credential %s ended", user_id, revocation_id or "(all)")


def credentials_revoked_send(*, user_id: int, revocation_id: str | None) -> None:
    """After the current transaction commits, close the user's sockets opened with that credential (None: all)."""
    transaction.on_commit(lambda: _send_now(user_id, revocation_id))
