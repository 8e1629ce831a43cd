"""Issuing, revoking and checking API tokens."""

import json
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models.expressions import RawSQL
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


def _permissions_sql() -> str:
    """A JSON array of the token's user's permissions (``app_label.codename``, own and through
    groups), as a subquery of the token's row."""
    user_model = ApiToken._meta.get_field("user").related_model
    tables = {
        "token": ApiToken._meta.db_table,
        "permission": Permission._meta.db_table,
        "content_type": ContentType._meta.db_table,
        "user_permissions": user_model.user_permissions.through._meta.db_table,
        "user_groups": user_model.groups.through._meta.db_table,
        "group_permissions": Group.permissions.through._meta.db_table,
    }
    name = {key: connection.ops.quote_name(table) for key, table in tables.items()}
    aggregate = "json_agg" if connection.vendor == "postgresql" else "json_group_array"
    return (
        f"SELECT {aggregate}(ct.app_label || '.' || p.codename) "
        f"FROM {name['permission']} p JOIN {name['content_type']} ct ON ct.id = p.content_type_id "
        f"WHERE p.id IN (SELECT up.permission_id FROM {name['user_permissions']} up "
        f"WHERE up.user_id = {name['token']}.user_id) "
        f"OR p.id IN (SELECT gp.permission_id FROM {name['group_permissions']} gp "
        f"JOIN {name['user_groups']} ug ON ug.group_id = gp.group_id "
        f"WHERE ug.user_id = {name['token']}.user_id)"
    )


def token_authenticate(*, raw: str) -> ApiToken | None:
    """The usable token matching ``raw``, touching ``last_used_at`` at most once a minute.

    One query brings the token, its user and the user's permissions (what every request checks
    next), kept on the user for the request as ``ModelBackend`` keeps them."""
    token = (
        ApiToken.objects.usable()
        .select_related("user")
        .filter(digest=token_digest(raw))
        .annotate(permissions=RawSQL(_permissions_sql(), ()))
        .first()
    )
    if token is None:
        return None
    permissions = token.permissions
    if isinstance(permissions, str):  # SQLite answers the JSON as text
        permissions = json.loads(permissions)
    if not token.user.is_superuser:  # a superuser holds every permission anyway
        token.user._perm_cache = set(permissions or ())
    now = timezone.now()
    resolution = timedelta(seconds=settings.API_TOKEN_LAST_USED_RESOLUTION_SECONDS)
    if token.last_used_at is None or now - token.last_used_at > resolution:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
