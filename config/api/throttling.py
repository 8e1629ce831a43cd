"""One request budget per token (or per user, or per address for anonymous callers)."""

import math

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from config.api.models import ApiToken


class TokenRateThrottle(SimpleRateThrottle):
    scope = "api"

    def get_rate(self) -> str | None:
        # Read at request time so the rate can be changed without re-importing the class.
        return settings.API_THROTTLE_RATE

    def allow_request(self, request, view) -> bool:
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        allowed = super().allow_request(request, view)
        if getattr(self, "key", None) is not None:
            # What the RateLimit-* headers report (added by ``rate_limit_headers``).
            request.rate_limit = (
                self.num_requests,
                max(0, self.num_requests - len(self.history)),
                math.ceil(self.wait() or 0) if not allowed or self.history else 0,
            )
        return allowed

    def get_cache_key(self, request, view) -> str:
        if isinstance(request.auth, ApiToken):
            ident = f"token:{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"addr:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


def rate_limit_headers(request) -> dict[str, str]:
    """``RateLimit-Limit``/``-Remaining``/``-Reset`` for a request the throttle counted (IETF
    httpapi-ratelimit-headers draft), so clients can slow down before a 429."""
    counted = getattr(request, "rate_limit", None)
    if counted is None:
        return {}
    limit, remaining, reset = counted
    return {
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": str(remaining),
        "RateLimit-Reset": str(reset),
    }
