"""Set-based writes of tag assignments and their history rows.

Each function is one SQL statement for any number of rows (batched under SQLite's parameter
limit), returns what it actually changed, and is safe against concurrent writers: inserts skip
rows that exist, deletes remove by key and report what they removed. History rows are inserted
in bulk with the same user, reason and time, so bulk paths never fall back to per-row saves.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from tags.models import TagAssignment

HistoricalTagAssignment = TagAssignment.history.model


def _max_params() -> int:
    """Parameters one raw statement may carry (PostgreSQL: 65535; SQLite: its compiled limit,
    250000 in current builds, 999 in old ones). Django's ORM keeps 999 for SQLite, which is
    why bulk paths here use raw statements."""
    if connection.vendor == "sqlite":
        import sqlite3

        connection.ensure_connection()
        return min(30_000, connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    return 30_000


@dataclass(frozen=True)
class AssignmentRow:
    id: int
    customer_id: str
    tag_id: str
    category: str
    source: str
    expires_at: datetime | None
    assigned_by_id: int | None
    created_at: datetime


COLUMNS = (
    "id",
    "customer_id",
    "tag_id",
    "category",
    "source",
    "expires_at",
    "assigned_by_id",
    "created_at",
)


def _table() -> str:
    return connection.ops.quote_name(TagAssignment._meta.db_table)


def _prep(field_name: str, value):
    field = TagAssignment._meta.get_field(field_name)
    return field.get_db_prep_value(value, connection, prepared=False)


def _datetime(value):
    if value is None:
        return None
    # SQLite hands raw SQL results back naive (or as text); they are UTC.
    parsed = value if isinstance(value, datetime) else parse_datetime(value)
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)


def _rows(cursor) -> list[AssignmentRow]:
    ulid = TagAssignment._meta.get_field("tag").target_field
    rows = []
    for id_, customer_id, tag_id, category, source, expires_at, by, created_at in cursor.fetchall():
        rows.append(
            AssignmentRow(
                id=id_,
                customer_id=ulid.from_db_value(customer_id, None, connection),
                tag_id=ulid.from_db_value(tag_id, None, connection),
                category=category,
                source=source,
                expires_at=_datetime(expires_at),
                assigned_by_id=by,
                created_at=_datetime(created_at),
            )
        )
    return rows


def assignments_insert(
    *,
    pairs: Iterable[tuple[str, str]],
    category: str,
    source: str,
    expires_at: datetime | None,
    assigned_by_id: int | None,
    now: datetime | None = None,
) -> list[AssignmentRow]:
    """Insert (customer_id, tag_id) pairs; existing current rows are left alone.

    An existing row that has expired is refreshed in place (it counts as added again).
    Returns the rows inserted or refreshed.
    """
    now = now or timezone.now()
    pairs = list(dict.fromkeys(pairs))
    added: list[AssignmentRow] = []
    columns = ", ".join(COLUMNS[1:])
    returning = ", ".join(COLUMNS)
    table = _table()
    batch_size = _max_params() // 8
    for start in range(0, len(pairs), batch_size):
        batch = pairs[start : start + batch_size]
        placeholders = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(batch))
        params: list = []
        for customer_id, tag_id in batch:
            params += [
                _prep("customer", customer_id),
                _prep("tag", tag_id),
                category,
                source,
                _prep("expires_at", expires_at),
                assigned_by_id,
                _prep("created_at", now),
            ]
        sql = (
            f"INSERT INTO {table} ({columns}) VALUES {placeholders} "
            "ON CONFLICT (customer_id, tag_id) DO UPDATE SET "
            "category = excluded.category, source = excluded.source, "
            "expires_at = excluded.expires_at, assigned_by_id = excluded.assigned_by_id, "
            "created_at = excluded.created_at "
            f"WHERE {table}.expires_at IS NOT NULL AND {table}.expires_at <= %s "
            f"RETURNING {returning}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, _prep("expires_at", now)])
            added += _rows(cursor)
    return added


def assignments_delete(
    *, customer_ids: Sequence[str], tag_ids: Sequence[str]
) -> list[AssignmentRow]:
    """Delete the assignments of these tags on these customers; returns the deleted rows."""
    if not customer_ids or not tag_ids:
        return []
    removed: list[AssignmentRow] = []
    tag_params = [_prep("tag", tag_id) for tag_id in tag_ids]
    batch_size = max(1, _max_params() - 10 - len(tag_params))
    for start in range(0, len(customer_ids), batch_size):
        batch = [_prep("customer", c) for c in customer_ids[start : start + batch_size]]
        sql = (
            f"DELETE FROM {_table()} WHERE customer_id IN ({', '.join(['%s'] * len(batch))}) "
            f"AND tag_id IN ({', '.join(['%s'] * len(tag_params))}) RETURNING {', '.join(COLUMNS)}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*batch, *tag_params])
            removed += _rows(cursor)
    return removed


def assignments_delete_by_ids(*, ids: Sequence[int]) -> list[AssignmentRow]:
    """Delete assignments by primary key; returns the deleted rows."""
    removed: list[AssignmentRow] = []
    batch_size = _max_params() - 10
    for start in range(0, len(ids), batch_size):
        batch = list(ids[start : start + batch_size])
        sql = (
            f"DELETE FROM {_table()} WHERE id IN ({', '.join(['%s'] * len(batch))}) "
            f"RETURNING {', '.join(COLUMNS)}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, batch)
            removed += _rows(cursor)
    return removed


def assignments_history_record(
    *,
    rows_by_type: dict[str, Sequence[AssignmentRow]],
    user_id: int | None,
    reason: str,
    at: datetime | None = None,
) -> None:
    """Bulk-insert history rows ("+" added, "-" removed) for assignments, in one statement per
    batch, with the user and reason of the operation (never per-row saves or signals)."""
    typed = [(row, history_type) for history_type, rows in rows_by_type.items() for row in rows]
    if not typed:
        return
    at = at or timezone.now()
    columns = [
        "id", "customer_id", "tag_id", "category", "source", "expires_at", "assigned_by_id",
        "created_at", "history_date", "history_type", "history_user_id", "history_change_reason",
    ]  # fmt: skip
    history_at = _prep("created_at", at)
    values = [
        [
            row.id,
            _prep("customer", row.customer_id),
            _prep("tag", row.tag_id),
            row.category,
            row.source,
            _prep("expires_at", row.expires_at),
            row.assigned_by_id,
            _prep("created_at", row.created_at),
            history_at,
            history_type,
            user_id,
            reason or None,
        ]
        for row, history_type in typed
    ]
    table = connection.ops.quote_name(HistoricalTagAssignment._meta.db_table)
    batch_size = _max_params() // len(columns)
    for start in range(0, len(values), batch_size):
        batch = values[start : start + batch_size]
        placeholders = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(batch))
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES {placeholders}",
                [value for row in batch for value in row],
            )
