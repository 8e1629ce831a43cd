"""Issuing, revoking and checking API tokens."""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models.expressions import Col
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


@dataclass(frozen=True)
class _TokenQuery:
    """The one statement of ``token_authenticate`` on one database, with the converters of its
    columns (the ORM's, so values come out as a queryset would give them)."""

    sql: str
    user_model: type
    token_fields: list[str]
    user_fields: list[str]
    converters: list[list]
    columns: list[Col]


def _token_query_build() -> _TokenQuery:
    user_model = ApiToken._meta.get_field("user").related_model
    tables = {
        "token": ApiToken._meta.db_table,
        "user": user_model._meta.db_table,
        "permission": Permission._meta.db_table,
        "content_type": ContentType._meta.db_table,
        "user_permissions": user_model.user_permissions.through._meta.db_table,
        "user_groups": user_model.groups.through._meta.db_table,
        "group_permissions": Group.permissions.through._meta.db_table,
    }
    name = {key: connection.ops.quote_name(table) for key, table in tables.items()}
    aggregate = "json_agg" if connection.vendor == "postgresql" else "json_group_array"
    # the user's permissions (own and through groups) as one JSON array of app_label.codename
    permissions = (
        f"SELECT {aggregate}(ct.app_label || '.' || p.codename) "
        f"FROM {name['permission']} p JOIN {name['content_type']} ct ON ct.id = p.content_type_id "
        f"WHERE p.id IN (SELECT up.permission_id FROM {name['user_permissions']} up "
        "WHERE up.user_id = t.user_id) "
        f"OR p.id IN (SELECT gp.permission_id FROM {name['group_permissions']} gp "
        f"JOIN {name['user_groups']} ug ON ug.group_id = gp.group_id WHERE ug.user_id = t.user_id)"
    )
    token_fields = list(ApiToken._meta.concrete_fields)
    user_fields = list(user_model._meta.concrete_fields)
    columns = [Col("t", f) for f in token_fields] + [Col("u", f) for f in user_fields]
    quote = connection.ops.quote_name
    user_column = ApiToken._meta.get_field("user").column
    select = ", ".join(f"{c.alias}.{quote(c.target.column)}" for c in columns)
    sql = (
        f"SELECT {select}, ({permissions}) FROM {name['token']} t JOIN {name['user']} u "
        f"ON u.{quote(user_model._meta.pk.column)} = t.{quote(user_column)} "
        "WHERE t.digest = %s AND t.revoked_at IS NULL AND u.is_active "
        "AND (t.expires_at IS NULL OR t.expires_at > %s)"
    )  # ApiToken.objects.usable(), as one statement
    return _TokenQuery(
        sql=sql,
        user_model=user_model,
        token_fields=[f.attname for f in token_fields],
        user_fields=[f.attname for f in user_fields],
        converters=[
            connection.ops.get_db_converters(c) + c.get_db_converters(connection) for c in columns
        ],
        columns=columns,
    )


_token_queries: dict[str, _TokenQuery] = {}


def token_authenticate(*, raw: str) -> ApiToken | None:
    """The usable token matching ``raw``, touching ``last_used_at`` at most once a minute.

    One statement brings the token, its user and the user's permissions (what every request
    checks next; kept on the user for the request, as ``ModelBackend`` keeps them), written
    once per database rather than compiled by the ORM on every request."""
    if connection.vendor not in _token_queries:
        _token_queries[connection.vendor] = _token_query_build()
    query = _token_queries[connection.vendor]
    with connection.cursor() as cursor:
        cursor.execute(
            query.sql,
            [token_digest(raw), connection.ops.adapt_datetimefield_value(timezone.now())],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row[:-1])
    for index, converters in enumerate(query.converters):
        for converter in converters:
            values[index] = converter(values[index], query.columns[index], connection)
    split = len(query.token_fields)
    token = ApiToken.from_db(connection.alias, query.token_fields, values[:split])
    token.user = user = query.user_model.from_db(
        connection.alias, query.user_fields, values[split:]
    )
    permissions = row[-1]
    if isinstance(permissions, str):  # SQLite answers the JSON as text
        permissions = json.loads(permissions)
    if not user.is_superuser:  # a superuser holds every permission anyway
        user._perm_cache = set(permissions or ())
    now = timezone.now()
    resolution = timedelta(seconds=settings.API_TOKEN_LAST_USED_RESOLUTION_SECONDS)
    if token.last_used_at is None or now - token.last_used_at > resolution:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
