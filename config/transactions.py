"""Transactions that retry when PostgreSQL picks them to break a deadlock."""

from collections.abc import Callable
from typing import TypeVar

from django.db import DatabaseError, transaction

T = TypeVar("T")
RETRYABLE = {"40P01", "40001"}  # deadlock_detected, serialization_failure


def atomic_with_retries(fn: Callable[[], T], *, attempts: int = 3) -> T:
    """Run ``fn`` in a transaction (a savepoint when nested), again if PostgreSQL aborted it
    as a deadlock victim: the other transaction has then gone ahead, and rolling back released
    every lock this one took, so a second attempt succeeds."""
    for attempt in range(attempts):
        try:
            with transaction.atomic():
                return fn()
        except DatabaseError as error:
            state = getattr(error.__cause__, "sqlstate", None)
            if state not in RETRYABLE or attempt + 1 == attempts:
                raise
    raise AssertionError("unreachable")
