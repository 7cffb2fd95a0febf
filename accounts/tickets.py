"""Websocket tickets: short-lived, single-use stand-ins for a credential in a websocket URL.

A client that cannot send a cookie or a `Sec-WebSocket-Protocol` credential asks `POST /api/v1/ws-ticket/` with
its usual credential and connects to `/ws/videos/?ticket=<ticket>` within WS_TICKET_TTL_SECONDS. The cache
keeps only the ticket's digest, bound to the user and to the credential that asked for it, so the socket closes
when that credential ends. Redeeming deletes it: whoever reads a ticket from a log later finds it spent.
"""

import hashlib
import secrets
from dataclasses import asdict
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache

from accounts.credentials import SocketCredential

TICKET_BYTES = 32


def _cache_key(ticket: str) -> str:
    return f"ws-ticket:{hashlib.sha256(ticket.encode()).hexdigest()}"


def ws_ticket_issue(*, user: AbstractBaseUser, credential: SocketCredential) -> str:
    ticket = secrets.token_urlsafe(TICKET_BYTES)
    value = {"user_id": user.pk, **asdict(credential)}
    if credential.expires_at is not None:
        value["expires_at"] = credential.expires_at.isoformat()
    cache.set(_cache_key(ticket), value, timeout=settings.WS_TICKET_TTL_SECONDS)
    return ticket


def ws_ticket_redeem(*, ticket: str) -> tuple[int, SocketCredential] | None:
    """(user id, credential) of a live ticket, which is spent by this call; None for an unknown or spent one."""
    key = _cache_key(ticket)
    value = cache.get(key)
    # delete() answers whether this call removed it: of two connections racing with one ticket, one wins.
    if value is None or not cache.delete(key):
        return None
    expires_at = datetime.fromisoformat(value["expires_at"]) if value.get("expires_at") else None
    credential = SocketCredential(kind=value["kind"], revocation_id=value["revocation_id"], expires_at=expires_at)
    return value["user_id"], credential
