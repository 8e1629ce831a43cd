"""A brake on guessing passwords and tokens: failed authentications, counted per client address
and per username, lock further attempts for a while.

Used by the admin's login form and the API's Basic and token authentication alike. A locked
attempt is refused before any password is hashed, so a flood of guesses also stops costing
~0.5 s of CPU each. Counters live in the Django cache (Redis with ``CACHE_URL``, shared by all
workers), like the API's request throttle.
"""

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle

KEY_PREFIX = "auth-failures"


def client_address(request: HttpRequest) -> str:
    """The caller's address as DRF's throttles see it (``NUM_PROXIES`` trusted proxies)."""
    return BaseThrottle().get_ident(request)


def _subjects(request: HttpRequest, username: str | None) -> list[tuple[str, int]]:
    """(cache key part, failure limit) for the address and, when given, the username."""
    subjects = [(f"addr:{client_address(request)}", settings.AUTH_FAILURES_PER_ADDRESS)]
    if username:
        digest = hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]
        subjects.append((f"user:{digest}", settings.AUTH_FAILURES_PER_USERNAME))
    return subjects


def auth_lockout_wait(*, request: HttpRequest, username: str | None = None) -> int | None:
    """Seconds until the address or username may try again, or None when not locked."""
    now = time.time()
    waits = [
        until - now
        for subject, _ in _subjects(request, username)
        if (until := cache.get(f"{KEY_PREFIX}:lock:{subject}")) and until > now
    ]
    return max(1, math.ceil(max(waits))) if waits else None


def auth_failure_record(*, request: HttpRequest, username: str | None = None) -> None:
    """Count a failed attempt; the one that reaches a limit locks that subject for the window."""
    window = settings.AUTH_FAILURE_WINDOW_SECONDS
    for subject, limit in _subjects(request, username):
        key = f"{KEY_PREFIX}:count:{subject}"
        cache.add(key, 0, timeout=window)
        try:
            failures = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)
            failures = 1
        if failures >= limit:
            cache.set(f"{KEY_PREFIX}:lock:{subject}", time.time() + window, timeout=window)


def auth_success_record(*, request: HttpRequest, username: str) -> None:
    """A right password clears its username's count (the address keeps its own)."""
    for subject, _ in _subjects(request, username)[1:]:
        cache.delete(f"{KEY_PREFIX}:count:{subject}")


def lockout_message(wait: int) -> str:
    minutes = max(1, math.ceil(wait / 60))
    return (
        "Too many failed sign-in attempts from this address or for this user. "
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."
    )
