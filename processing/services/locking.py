"""One runner per job, across workers and the stuck-job sweep: a PostgreSQL advisory lock."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


def lock_key(job_id) -> int:
    return int.from_bytes(uuid.UUID(str(job_id)).bytes[:8], "big", signed=True)


@contextmanager
def job_run_lock(*, job_id) -> Iterator[bool]:
    """Yields True when this process now owns the job's run, False when another does.

    The lock lives with the database session, so a runner killed with SIGKILL
    releases it when its connection drops.
    """
    key = lock_key(job_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def job_is_being_run(*, job_id) -> bool:
    with job_run_lock(job_id=job_id) as acquired:
        return not acquired
