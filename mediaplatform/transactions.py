"""Transactions that survive losing a deadlock: PostgreSQL aborts one side, the service runs it again.

Row locks are taken in one order everywhere (see `processing.services.locking`), so a deadlock
should not happen; when one still does (a lock taken implicitly, by a foreign key check or a
trigger), it is a transient conflict between two correct transactions. The loser's work was
rolled back whole, so running the same function again is safe, and it is what the caller wants:
the request or the job step goes through instead of failing with a database error.
"""

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError, connection, transaction

logger = logging.getLogger(__name__)

# deadlock_detected and serialization_failure: PostgreSQL's "run it again" conditions.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
ATTEMPTS = 5

P = ParamSpec("P")
R = TypeVar("R")


def is_retryable_conflict(exc: BaseException) -> bool:
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    return getattr(cause, "sqlstate", None) in RETRYABLE_SQLSTATES


def atomic_retrying_conflicts(func: Callable[P, R]) -> Callable[P, R]:
    """`transaction.atomic`, run again (up to ATTEMPTS times) when PostgreSQL aborts it as a deadlock victim.

    Nested inside another atomic block it is a plain savepoint: the whole outer transaction
    was aborted, so only its owner can run it again.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if connection.in_atomic_block:
            with transaction.atomic():
                return func(*args, **kwargs)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with transaction.atomic():
                    return func(*args, **kwargs)
            except OperationalError as exc:
                if attempt == ATTEMPTS or not is_retryable_conflict(exc):
                    raise
                logger.warning(
                    "%s lost a lock conflict (attempt %s of %s), running it again: %s",
                    func.__qualname__,
                    attempt,
                    ATTEMPTS,
                    str(exc).splitlines()[0],
                )
                time.sleep(random.uniform(0.005, 0.05) * attempt)
        raise AssertionError("unreachable")

    return wrapper
