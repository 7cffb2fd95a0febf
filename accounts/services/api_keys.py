"""API keys: created (the key is returned once, only its SHA-256 is kept) and revoked; accounts.selectors lists
them."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey, api_key_generate
from audit.services import audit_record
from mediaplatform.service_errors import ServiceError

MAX_ACTIVE_KEYS_PER_USER = 20


class ApiKeyRefused(ServiceError):
    pass


def api_key_create(*, user: AbstractBaseUser, name: str, expires_at: datetime | None = None) -> tuple[ApiKey, str]:
    """A new key for the user, as (row, the full key to show once)."""
    if expires_at is not None and expires_at <= timezone.now():
        raise ApiKeyRefused(code="invalid", message="expires_at must be in the future.")
    with transaction.atomic():
        active = ApiKey.objects.select_for_update().filter(user=user, revoked_at__isnull=True)
        if sum(1 for key in active if key.is_active) >= MAX_ACTIVE_KEYS_PER_USER:
            raise ApiKeyRefused(
                code="too_many_keys",
                message=f"A user may hold at most {MAX_ACTIVE_KEYS_PER_USER} active keys; revoke one first.",
                status_code=409,
            )
        key, prefix, key_hash = api_key_generate()
        row = ApiKey.objects.create(user=user, name=name, prefix=prefix, key_hash=key_hash, expires_at=expires_at)
        audit_record(
            action="api_key.create",
            obj=row,
            actor=user,
            new_values={"name": name, "prefix": prefix, "expires_at": expires_at.isoformat() if expires_at else None},
        )
    return row, key


def api_key_revoke(*, user: AbstractBaseUser, key_id: int) -> ApiKey:
    """Revoke one of the user's keys (revoking twice is harmless). Raises ApiKey.DoesNotExist."""
    with transaction.atomic():
        row = ApiKey.objects.select_for_update().get(pk=key_id, user=user)
        if row.revoked_at is None:
            row.revoked_at = timezone.now()
            row.save(update_fields=["revoked_at"])
            audit_record(action="api_key.revoke", obj=row, actor=user, new_values={"prefix": row.prefix})
    return row
