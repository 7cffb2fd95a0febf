"""Writing audit rows and storage-operation records, inside the transaction of the change they record."""

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import models

from audit.context import current_context
from audit.models import AuditLogEntry, StorageOperation


def jsonable_values(values: dict[str, Any] | None) -> dict[str, Any]:
    """Field values as an audit row stores them: JSON scalars kept, anything else as its string."""
    return {
        key: value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        for key, value in (values or {}).items()
    }


def _credential_label(request) -> str:
    auth = getattr(request, "auth", None)
    if auth is None:
        return ""
    prefix = getattr(auth, "prefix", None)
    if prefix:
        return f"api-key:{prefix}"
    return "token" if type(auth).__name__ == "Token" else type(auth).__name__.lower()


def _request_user(request):
    user = getattr(request, "user", None)
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def _entry(
    *,
    action: str,
    object_type: str,
    object_id: str,
    actor: AbstractBaseUser | None,
    actor_label: str,
    old_values: dict[str, Any] | None,
    new_values: dict[str, Any] | None,
    reason: str,
) -> AuditLogEntry:
    context = current_context()
    request = context.request if context else None
    if actor is None and request is not None:
        actor = _request_user(request)
    if actor is not None and not actor.is_authenticated:
        actor = None
    label = actor_label or (_credential_label(request) if request is not None else "")
    if not label and actor is None:
        label = "system"
    return AuditLogEntry(
        actor=actor,
        actor_label=label,
        action=action,
        object_type=object_type,
        object_id=object_id,
        old_values=old_values or {},
        new_values=new_values or {},
        reason=reason,
        ip_address=context.ip_address if context else None,
        user_agent=context.user_agent if context else "",
        request_id=context.request_id if context else "",
    )


def audit_record(
    *,
    action: str,
    obj: models.Model,
    actor: AbstractBaseUser | None = None,
    actor_label: str = "",
    old_values: dict[str, Any] | None = None,
    new_values: dict[str, Any] | None = None,
    reason: str = "",
) -> AuditLogEntry:
    """Write one audit row. Call it inside the transaction of the change it records."""
    entry = _entry(
        action=action,
        object_type=obj._meta.label,
        object_id=str(obj.pk),
        actor=actor,
        actor_label=actor_label,
        old_values=old_values,
        new_values=new_values,
        reason=reason,
    )
    entry.save()
    return entry


def audit_record_many(
    *,
    action: str,
    object_type: str,
    changes: Iterable[tuple[str, dict[str, Any], dict[str, Any]]],
    actor: AbstractBaseUser | None = None,
    actor_label: str = "",
    reason: str = "",
) -> int:
    """One row per changed object for a bulk change: (object id, old values, new values) each."""
    entries = [
        _entry(
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            actor=actor,
            actor_label=actor_label,
            old_values=old,
            new_values=new,
            reason=reason,
        )
        for object_id, old, new in changes
    ]
    AuditLogEntry.objects.bulk_create(entries, batch_size=1000)
    return len(entries)


@contextmanager
def storage_operation(
    *, operation: str, path: str, video_id=None, size_bytes: int | None = None, actor=None
) -> Iterator[StorageOperation]:
    """Time a storage operation and record it, failed or not (a failure is re-raised)."""
    context = current_context()
    record = StorageOperation(
        operation=operation,
        path=path[:500],
        video_id=video_id,
        size_bytes=size_bytes,
        actor=actor if actor is not None and actor.is_authenticated else None,
        request_id=context.request_id if context else "",
    )
    started = time.perf_counter()
    try:
        yield record
    except BaseException as exc:
        record.success = False
        record.error_message = f"{type(exc).__name__}: {exc}"[:2000]
        raise
    finally:
        record.duration_ms = round((time.perf_counter() - started) * 1000, 3)
        record.save()
