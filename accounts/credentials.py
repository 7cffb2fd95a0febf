"""Which credential a request or websocket authenticated with, named by a revocation id.

A credential (a session, an API token or an API key) is remembered by its revocation id: a digest or a primary
key, never the secret itself, since these ids travel through Redis. When a credential ends, the
`credential_ended` signal (accounts.signals) names it by the same id.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime

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


def credential_of_request(request) -> SocketCredential:
    """The credential an authenticated DRF request came with."""
    from rest_framework.authtoken.models import Token

    from accounts.models import ApiKey
    from accounts.services.api_tokens import api_token_expires_at

    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiKey):
        return SocketCredential(kind=API_KEY, revocation_id=api_key_revocation_id(auth.pk), expires_at=auth.expires_at)
    if isinstance(auth, Token):
        return SocketCredential(
            kind=TOKEN, revocation_id=token_revocation_id(auth.key), expires_at=api_token_expires_at(token=auth)
        )
    return SocketCredential(kind=SESSION, revocation_id=session_revocation_id(request.session.session_key or ""))
