"""Issuing, revoking and checking API tokens."""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from config.api.models import ApiToken, token_digest, token_generate


def token_issue(
    *, user: AbstractBaseUser, name: str = "", expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a token; the raw secret is returned once and never stored."""
    raw = token_generate()
    token = ApiToken.objects.create(
        user=user, name=name, hint=raw[:8], digest=token_digest(raw), expires_at=expires_at
    )
    return token, raw


def token_expiry_in(days: int | None) -> datetime | None:
    return timezone.now() + timedelta(days=days) if days else None


def token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def token_delete(*, token: ApiToken) -> None:
    """Delete for good: the token no longer signs in, and no record of it is kept (revoke
    keeps one)."""
    ApiToken.objects.filter(pk=token.pk).delete()


def token_authenticate(*, raw: str) -> ApiToken | None:
    """The usable token matching ``raw``, touching ``last_used_at`` at most once a minute."""
    token = (
        ApiToken.objects.usable().select_related("user").filter(digest=token_digest(raw)).first()
    )
    if token is None:
        return None
    now = timezone.now()
    resolution = timedelta(seconds=settings.API_TOKEN_LAST_USED_RESOLUTION_SECONDS)
    if token.last_used_at is None or now - token.last_used_at > resolution:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
