"""Every PostgreSQL advisory lock the platform takes, by name: one table, so no two features share a key.

A key is one bigint: its top 16 bits name the lock (the table below), its low 48 bits the thing locked (an
integer id as it is, a UUID by its first 48 bits). Every lock here uses PostgreSQL's one-bigint form, so two
names never meet; within a name, two integer ids never do, and two UUIDs only with odds of one in 2**48, which
costs one of them a wait (or, for a try-lock, a later attempt), never a wrong result.
"""

import enum
import uuid

from django.db import connection

_SUBJECT_BITS = 48
_SUBJECT_MASK = (1 << _SUBJECT_BITS) - 1


class AdvisoryLock(enum.IntEnum):
    """The advisory locks, each a class of keys. A new feature adds a name here with the next free number."""

    # Per owner, for a transaction: counting the owner's videos in flight and admitting a new one.
    VIDEO_ADMISSION = 1
    # Per owner, for a transaction: counting the owner's open chunked-upload sessions and opening one.
    UPLOAD_SESSIONS = 2
    # Per job, for a database session: the one process running the job (dropped with a killed worker's connection).
    JOB_RUN = 3
    # Per video, for a transaction: sending the video's outbox events in sequence order.
    OUTBOX_DELIVERY = 4


def advisory_lock_key(lock: AdvisoryLock, subject: int | uuid.UUID | str) -> int:
    """The bigint key of `lock` for one subject: an integer id (0 <= id < 2**48) or a UUID (or its text)."""
    if isinstance(subject, int):
        if not 0 <= subject <= _SUBJECT_MASK:
            raise ValueError(f"An advisory lock subject must be an id between 0 and 2**48 - 1, not {subject}.")
        identity = subject
    else:
        identity = uuid.UUID(str(subject)).int >> (128 - _SUBJECT_BITS)
    return (int(lock) << _SUBJECT_BITS) | identity


def advisory_xact_lock(lock: AdvisoryLock, subject: int | uuid.UUID | str) -> None:
    """Wait for and take the lock until the current transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [advisory_lock_key(lock, subject)])


def advisory_try_lock(lock: AdvisoryLock, subject: int | uuid.UUID | str) -> bool:
    """Take the lock for the database session if it is free; False when another session holds it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [advisory_lock_key(lock, subject)])
        return cursor.fetchone()[0]


def advisory_unlock(lock: AdvisoryLock, subject: int | uuid.UUID | str) -> None:
    """Let go of a lock advisory_try_lock took."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s)", [advisory_lock_key(lock, subject)])
