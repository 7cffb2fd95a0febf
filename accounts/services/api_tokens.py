"""API tokens (`Authorization: Token <key>`): issued at sign-in, expiring, rotated on demand.

A token expires API_TOKEN_TTL_DAYS after it was issued (0: never). Signing in at the token endpoint returns the
user's current token, or a new one when theirs has expired; rotating replaces it at once, and the old key stops
working in the same transaction. A token's key is its primary key, so audit rows name the user, never the token.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from audit.services import audit_record


def api_token_expires_at(*, token: Token) -> datetime | None:
    days = float(settings.API_TOKEN_TTL_DAYS)
    if days <= 0:
        return None
    return token.created + timedelta(days=days)


def api_token_is_expired(*, token: Token, now: datetime | None = None) -> bool:
    expires_at = api_token_expires_at(token=token)
    return expires_at is not None and expires_at <= (now or timezone.now())


def _lock_user(user: AbstractBaseUser) -> None:
    # Two sign-ins of one user at once would both find no token and both create one (one user, one token).
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()


def _issue(*, user: AbstractBaseUser, action: str) -> Token:
    Token.objects.filter(user=user).delete()  # deleting (not updating) tells open websockets it is gone
    token = Token.objects.create(user=user)
    expires_at = api_token_expires_at(token=token)
    audit_record(
        action=action,
        obj=user,
        actor=user,
        new_values={"expires_at": expires_at.isoformat() if expires_at else None},
    )
    return token


def api_token_for_sign_in(*, user: AbstractBaseUser) -> Token:
    """The user's token after a successful sign-in: the current one, or a new one when it expired or is missing."""
    with transaction.atomic():
        _lock_user(user)
        token = Token.objects.filter(user=user).first()
        if token is not None and not api_token_is_expired(token=token):
            return token
        return _issue(user=user, action="api_token.issue")


def api_token_rotate(*, user: AbstractBaseUser) -> Token:
    """A new token for the user; the old one (expired or not) stops working when this commits."""
    with transaction.atomic():
        _lock_user(user)
        return _issue(user=user, action="api_token.rotate")
