"""Set-based writes of tag assignments and their history rows.

Each write is one SQL statement per batch of rows on PostgreSQL (a data-modifying CTE that
also inserts the history rows) and two on SQLite, returns what it actually changed, and is safe
against concurrent writers: inserts skip rows that exist, deletes remove by key and report what
they removed. History rows carry the operation's user and reason, so no path ever falls back to
per-row saves or simple-history's per-row signals. Ids travel as one array parameter on
PostgreSQL and in their raw database form, so a million rows cost no per-row conversion.
"""

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from customers.models import Customer
from tags.models import Tag, TagAssignment

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


def db_ids(field_name: str, values: Iterable) -> list:
    """The database form of many ids, fast: raw database values (UUIDs on PostgreSQL, hex text
    on SQLite, as a raw cursor returns them) pass through; ULID strings are converted."""
    native = connection.features.has_native_uuid_field
    out = []
    for value in values:
        if isinstance(value, uuid.UUID):
            out.append(value if native else value.hex)
        elif len(value) == 32:
            out.append(uuid.UUID(value) if native else value)
        else:
            out.append(_prep(field_name, value))
    return out


@dataclass
class Changed:
    """What one set-based add or remove did: per tag id, how many current assignments it
    added or removed."""

    by_tag: Counter = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.by_tag.values())

    def update(self, other: "Changed") -> None:
        self.by_tag.update(other.by_tag)


HISTORY_COLUMNS = (
    *COLUMNS, "history_date", "history_type", "history_user_id", "history_change_reason",
)  # fmt: skip


def _history_table() -> str:
    return connection.ops.quote_name(HistoricalTagAssignment._meta.db_table)


def _customers_table() -> str:
    return connection.ops.quote_name(Customer._meta.db_table)


def _marks(values: Sequence) -> str:
    return ", ".join(["%s"] * len(values))


def _in(column: str, values: Sequence) -> tuple[str, list]:
    """``column`` is one of ``values``: one array parameter on PostgreSQL (cheaper to send and
    to plan than thousands of placeholders), an IN list on SQLite."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s::uuid[])", ["{" + ",".join(map(str, values)) + "}"]
    return f"{column} IN ({_marks(values)})", list(values)


def _batches(values: Sequence, reserve: int) -> Iterable[Sequence]:
    size = max(1, _max_params() - reserve)
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _select_summary() -> str:
    """The final SELECT of a PostgreSQL write: per tag, how many assignments it wrote."""
    return "SELECT tag_id, count(*) FROM hist GROUP BY tag_id"


def _fold(cursor, tags: dict) -> Changed:
    return Changed(by_tag=Counter({tags[t]: n for t, n in cursor.fetchall() if n}))


def assignments_add(
    *,
    customer_ids: Sequence,
    tag_ids: Sequence[str],
    category: str,
    source: str,
    expires_at: datetime | None,
    user_id: int | None,
    reason: str,
    now: datetime,
) -> Changed:
    """Give every tag to every customer that lacks it and record a "+" history row for each
    assignment made: one statement per batch on PostgreSQL (a data-modifying CTE), two on
    SQLite.

    A current assignment is left alone; an expired one is refreshed in place and counts as
    added again, as does one given an expiry already past (a real, if invisible, change).
    Ids of customers that no longer exist are skipped.
    """
    changed = Changed()
    if not customer_ids or not tag_ids:
        return changed
    table, history, customers = _table(), _history_table(), _customers_table()
    tags = dict(zip(db_ids("tag", tag_ids), tag_ids, strict=True))
    columns = ", ".join(COLUMNS[1:])
    values = [category, source, _prep("expires_at", expires_at), user_id, _prep("created_at", now)]
    at = _prep("created_at", now)
    for batch in _batches(customer_ids, reserve=len(tags) + 20):
        batch = db_ids("customer", batch)
        in_batch, batch_params = _in("c.id", batch)
        in_tags, tag_params = _in("t.id", list(tags))
        insert = (
            f"INSERT INTO {table} ({columns}) "
            f"SELECT c.id, t.id, %s, %s, %s, %s, %s FROM {customers} c, {Tag._meta.db_table} t "
            f"WHERE {in_batch} AND {in_tags} "
            "ON CONFLICT (customer_id, tag_id) DO UPDATE SET category = excluded.category, "
            "source = excluded.source, expires_at = excluded.expires_at, "
            "assigned_by_id = excluded.assigned_by_id, created_at = excluded.created_at "
            f"WHERE {table}.expires_at IS NOT NULL AND {table}.expires_at <= %s"
        )
        params = [*values, *batch_params, *tag_params, _prep("expires_at", now)]
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # history_date is the clock at each row's write, after any lock wait, so for
                # one assignment the history order is the commit order.
                cursor.execute(
                    f"WITH ins AS ({insert} RETURNING {', '.join(COLUMNS)}), "
                    f"hist AS (INSERT INTO {history} ({', '.join(HISTORY_COLUMNS)}) "
                    f"SELECT {', '.join(COLUMNS)}, clock_timestamp(), '+', %s, %s FROM ins "
                    f"RETURNING {', '.join(COLUMNS)}) "
                    f"{_select_summary()}",
                    [*params, user_id, reason or None],
                )
                changed.update(_fold(cursor, tags))
                continue
            # ids and raw tag ids only: no per-row conversion for a million rows
            cursor.execute(f"{insert} RETURNING id, tag_id", params)
            returned = cursor.fetchall()
            ids = [row[0] for row in returned]
            changed.update(Changed(by_tag=Counter(tags[row[1]] for row in returned)))
            for chunk in _batches(ids, reserve=20):
                where = f"id IN ({_marks(chunk)})"
                cursor.execute(
                    f"INSERT INTO {history} ({', '.join(HISTORY_COLUMNS)}) "
                    f"SELECT {', '.join(COLUMNS)}, %s, '+', %s, %s FROM {table} WHERE {where}",
                    [at, user_id, reason or None, *chunk],
                )
    return changed


def assignments_remove(
    *,
    customer_ids: Sequence,
    tag_ids: Sequence[str],
    user_id: int | None,
    reason: str,
    now: datetime,
) -> Changed:
    """Take the tags off the customers and record a "-" history row for each assignment
    removed, set-based like :func:`assignments_add`.

    Only current assignments are removed: an expired one is already gone for the customer, so
    taking it off would change nothing visible; it stays until ``expire_tags`` records its
    expiry."""
    changed = Changed()
    if not customer_ids or not tag_ids:
        return changed
    table, history = _table(), _history_table()
    tags = dict(zip(db_ids("tag", tag_ids), tag_ids, strict=True))
    at = _prep("created_at", now)
    for batch in _batches(customer_ids, reserve=len(tags) + 20):
        batch = db_ids("customer", batch)
        in_batch, batch_params = _in("customer_id", batch)
        in_tags, tag_params = _in("tag_id", list(tags))
        where = f"{in_batch} AND {in_tags} AND (expires_at IS NULL OR expires_at > %s)"
        params = [*batch_params, *tag_params, _prep("expires_at", now)]
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"WITH del AS (DELETE FROM {table} WHERE {where} "
                    f"RETURNING {', '.join(COLUMNS)}), "
                    f"hist AS (INSERT INTO {history} ({', '.join(HISTORY_COLUMNS)}) "
                    f"SELECT {', '.join(COLUMNS)}, clock_timestamp(), '-', %s, %s FROM del "
                    f"RETURNING {', '.join(COLUMNS)}) "
                    f"{_select_summary()}",
                    [*params, user_id, reason or None],
                )
                changed.update(_fold(cursor, tags))
                continue
            # SQLite: the transaction holds the database's write lock, so the rows read for
            # the history are exactly the rows the DELETE then removes.
            cursor.execute(
                f"INSERT INTO {history} ({', '.join(HISTORY_COLUMNS)}) "
                f"SELECT {', '.join(COLUMNS)}, %s, '-', %s, %s FROM {table} WHERE {where}",
                [at, user_id, reason or None, *params],
            )
            cursor.execute(f"DELETE FROM {table} WHERE {where} RETURNING tag_id", params)
            changed.update(Changed(by_tag=Counter(tags[row[0]] for row in cursor.fetchall())))
    return changed


def assignments_move(
    *, from_tag_id: str, to_tag_id: str, user_id: int | None, reason: str, now: datetime
) -> tuple[int, int]:
    """Move every assignment of one tag to another (a merge), with history: a customer that
    already holds the target keeps its own assignment (an expired one is replaced). Returns
    (assignments added to the target, assignments taken off the source)."""
    table, history = _table(), _history_table()
    source, target = db_ids("tag", [from_tag_id, to_tag_id])
    cols, hist_cols = ", ".join(COLUMNS), ", ".join(HISTORY_COLUMNS)
    at = _prep("created_at", now)
    insert = (
        f"INSERT INTO {table} ({', '.join(COLUMNS[1:])}) "
        "SELECT customer_id, %s, category, source, expires_at, assigned_by_id, created_at "
        f"FROM {table} WHERE tag_id = %s "
        "ON CONFLICT (customer_id, tag_id) DO UPDATE SET category = excluded.category, "
        "source = excluded.source, expires_at = excluded.expires_at, "
        "assigned_by_id = excluded.assigned_by_id, created_at = excluded.created_at "
        f"WHERE {table}.expires_at IS NOT NULL AND {table}.expires_at <= %s"
    )
    insert_params = [target, source, _prep("expires_at", now)]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            counts = []
            for write, params, kind in (
                (insert, insert_params, "+"),
                (f"DELETE FROM {table} WHERE tag_id = %s", [source], "-"),
            ):
                cursor.execute(
                    f"WITH w AS ({write} RETURNING {cols}), "
                    f"hist AS (INSERT INTO {history} ({hist_cols}) "
                    f"SELECT {cols}, clock_timestamp(), %s, %s, %s FROM w RETURNING customer_id) "
                    "SELECT count(*) FROM hist",
                    [*params, kind, user_id, reason or None],
                )
                counts.append(cursor.fetchone()[0])
            return counts[0], counts[1]
        cursor.execute(f"{insert} RETURNING id", insert_params)
        ids = [row[0] for row in cursor.fetchall()]
        for chunk in _batches(ids, reserve=20):
            cursor.execute(
                f"INSERT INTO {history} ({hist_cols}) SELECT {cols}, %s, '+', %s, %s "
                f"FROM {table} WHERE id IN ({_marks(chunk)})",
                [at, user_id, reason or None, *chunk],
            )
        cursor.execute(
            f"INSERT INTO {history} ({hist_cols}) SELECT {cols}, %s, '-', %s, %s "
            f"FROM {table} WHERE tag_id = %s",
            [at, user_id, reason or None, source],
        )
        cursor.execute(f"DELETE FROM {table} WHERE tag_id = %s", [source])
        return len(ids), cursor.rowcount


def customers_lock(customer_ids: Sequence) -> None:
    """Lock the customers' rows, in id order, for the rest of the transaction (PostgreSQL;
    SQLite's one write lock already serialises writers).

    A single-customer change takes it first, so two calls on one customer that delete and
    insert different tags queue instead of deadlocking on each other's assignment rows. Bulk
    changes do not (a million row locks would cost more than their writes); they retry a
    batch that loses a deadlock instead.
    """
    if connection.vendor != "postgresql" or not customer_ids:
        return
    for batch in _batches(customer_ids, reserve=10):
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT 1 FROM {_customers_table()} WHERE id = ANY(%s::uuid[]) "
                "ORDER BY id FOR NO KEY UPDATE",
                [pg_array(batch)],
            )


def _holding_more_than(batch: list, count: int) -> list:
    """Of a batch of customer ids (database form), those holding more than ``count``
    assignments of any kind: an index-only count per customer on PostgreSQL."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c FROM unnest(%s::uuid[]) c WHERE "
                f"(SELECT count(*) FROM {_table()} WHERE customer_id = c) > %s",
                [pg_array(batch), count],
            )
        else:
            cursor.execute(
                f"SELECT customer_id FROM {_table()} WHERE customer_id IN ({_marks(batch)}) "
                "GROUP BY customer_id HAVING count(*) > %s",
                [*batch, count],
            )
        return [row[0] for row in cursor.fetchall()]


def customers_near_limit(*, customer_ids: Sequence, adding: int, limit: int) -> list | None:
    """Before a bulk add: the customers holding more than ``limit - adding`` assignments of
    any kind, the only ones the add could take past the limit. None on SQLite, where the
    count after the write is cheap enough to do for all."""
    if connection.vendor != "postgresql":
        return None
    if not customer_ids or not adding:
        return []
    near: list = []
    for batch in _batches(customer_ids, reserve=10):
        near += _holding_more_than(db_ids("customer", batch), limit - adding)
    return near


def pg_array(ids: Sequence) -> str:
    """Ids as one PostgreSQL array literal: one parameter to quote and send, not thousands."""
    return "{" + ",".join(str(i) for i in db_ids("customer", ids)) + "}"


def customers_over_limit(*, customer_ids: Sequence, limit: int, now: datetime) -> list[str]:
    """Up to five of these customers holding more than ``limit`` current tags.

    First an upper bound from the (customer, tag) index alone: every assignment, expired or
    of a deleted tag included. Only when some customer passes the limit that way are the
    current ones counted, so the usual case costs one index scan per batch.
    """
    table, tags = _table(), connection.ops.quote_name(Tag._meta.db_table)
    over: list[str] = []
    for batch in _batches(customer_ids, reserve=10):
        suspects = _holding_more_than(db_ids("customer", batch), limit)
        if not suspects:
            continue
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT a.customer_id FROM {table} a JOIN {tags} t ON t.id = a.tag_id "
                f"WHERE a.customer_id IN ({_marks(suspects)}) AND NOT t.is_deleted "
                "AND (a.expires_at IS NULL OR a.expires_at > %s) "
                "GROUP BY a.customer_id HAVING count(*) > %s LIMIT 5",
                [*suspects, _prep("expires_at", now), limit],
            )
            ulid = TagAssignment._meta.get_field("customer").target_field
            over += [ulid.from_db_value(row[0], None, connection) for row in cursor.fetchall()]
        if over:
            break
    return over[:5]


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
