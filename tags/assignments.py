"""Set-based writes of tag assignments and their history rows: one writer per database.

Each write is one SQL statement per batch of rows on PostgreSQL (a data-modifying CTE that
also inserts the history rows) and two on SQLite, returns what it actually changed, and is safe
against concurrent writers: inserts skip rows that exist, deletes remove by key and report what
they removed. History rows carry the operation's user and reason, so no path ever falls back to
per-row saves or simple-history's per-row signals. A change (``assignments_change``) can also
record one ``customer.tags_changed`` event per customer it changed, from the rows it changed:
inside the same statement on PostgreSQL, in one more per batch on SQLite (from the history
rows it wrote).

The functions at the end of the module are the boundary the services call. They take ids as
callers hold them: ULID strings (the models' primary keys), or ``StoredId``s, the text of the
id as its column holds it (what ``customer_id_batches`` yields, so a million ids cost no
conversion in Python). They turn ULIDs into ``StoredId``s once and hand the work to the
writer of the database in use, ``PostgresAssignmentWriter`` or ``SqliteAssignmentWriter``:
the same methods, ``StoredId``s only, chosen once per database. A list of ids goes into SQL
as one parameter joined from them as they are (cheaper to send and to plan than thousands of
placeholders): a ``uuid[]`` array on PostgreSQL, a JSON array read by ``json_each`` on
SQLite. SQL hands ids back as text (``CAST(… AS text)``), in the same form.
"""

import json
import sqlite3
import uuid
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from config.databases import per_database, stored_ids_in
from config.events.services import events_insert_select_sql
from config.fields import StoredId, ulid_to_uuid, uuid_from_db, uuid_to_ulid
from customers.models import Customer
from tags.models import (
    Tag,
    TagAssignment,
    current_assignment_sql,
    expired_assignment_sql,
    unexpired_assignment_sql,
)

HistoricalTagAssignment = TagAssignment.history.model

# Parameters one raw statement may carry at most here. PostgreSQL takes 65535; SQLite its
# compiled limit (250000 in current builds, 999 in old ones), while Django's ORM keeps 999 for
# SQLite: one reason why the bulk paths are raw statements.
MAX_PARAMS = 30_000


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
HISTORY_COLUMNS = (
    *COLUMNS, "history_date", "history_type", "history_user_id", "history_change_reason",
    "change_set_id",
)  # fmt: skip


@dataclass
class Changed:
    """What one set-based add or remove did: per tag id, how many current assignments it
    added or removed."""

    by_tag: Counter = field(default_factory=Counter)


@dataclass(frozen=True)
class Stamp:
    """Who writes and why (the history rows' user and reason, and the change-set they belong
    to, a ULID), and the one clock of the write: what has expired by then, the created_at of
    new rows, the history date on SQLite."""

    user_id: int | None
    reason: str
    now: datetime
    change_set_id: str | None = None

    def history(self) -> list:
        """The parameters of the history rows' user, reason and change-set."""
        change_set = HistoricalTagAssignment._meta.get_field("change_set_id").get_db_prep_value(
            self.change_set_id, connection, prepared=False
        )
        return [self.user_id, self.reason or None, change_set]


@dataclass(frozen=True)
class AssignmentValues:
    """What an add gives each assignment it writes."""

    category: str
    source: str
    expires_at: datetime | None


TAGS_CHANGED = "customer.tags_changed"


@dataclass(frozen=True, kw_only=True)
class ChangeEvents:
    """The ``customer.tags_changed`` events a write records beside its rows, one per customer
    it changed: ``names`` maps the id (ULID) of every tag the write touches to its name,
    ``common`` is ``config.events.services.events_common()`` (time, actor, request id)."""

    names: Mapping[str, str]
    reason: str
    common: dict


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _prep(field_name: str, value):
    field = TagAssignment._meta.get_field(field_name)
    return field.get_db_prep_value(value, connection, prepared=False)


def _datetime(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    # SQLite hands raw SQL results back naive (Django's converters parse them); they are UTC.
    return value if timezone.is_aware(value) else timezone.make_aware(value, UTC)


def _marks(values: Sequence) -> str:
    return ", ".join(["%s"] * len(values))


def _history_insert(history_date: str, source: str) -> str:
    """INSERT of one history row per assignment row ``source`` yields; the parameters are
    those of ``history_date`` (SQL), then the type ("+"/"-"), then ``Stamp.history()`` (the
    user, the reason and the change-set)."""
    return (
        f"INSERT INTO {_table(HistoricalTagAssignment)} ({', '.join(HISTORY_COLUMNS)}) "
        f"SELECT {', '.join(COLUMNS)}, {history_date}, %s, %s, %s, %s FROM {source}"
    )


def _per_tag(counts: Counter) -> Counter:
    """Counts keyed by tag ids as SQL returned them (text), keyed by ``StoredId``."""
    return Counter({StoredId(tag): n for tag, n in counts.items() if n})


class AssignmentWriter(ABC):
    """The assignment SQL of one database, with ids as ``StoredId``s throughout.

    The statements both databases run alike are here; a subclass per database supplies what
    differs (ids as parameters, a write together with its history rows, row locks, the size of
    a statement), so no method asks which database it runs on. ``max_params`` overrides the
    parameters per statement (tests use it to force many batches).
    """

    def __init__(self, *, max_params: int | None = None) -> None:
        self._max_params = max_params

    # --- what differs by database -----------------------------------------------------------

    @abstractmethod
    def _statement_limit(self) -> int:
        """Parameters one statement may carry on this database (at most ``MAX_PARAMS``)."""

    @abstractmethod
    def _stored_text(self, value: uuid.UUID) -> str:
        """A UUID written as this database writes the column as text."""

    def one_of(self, column: str, ids: Sequence[StoredId]) -> tuple[str, list]:
        """The condition ``column`` is one of ``ids``, and its one parameter."""
        return stored_ids_in(column, list(ids))

    @abstractmethod
    def _insert(
        self, insert: str, params: list, stamp: Stamp, history_ids: list | None = None
    ) -> Counter:
        """Run ``insert`` (an INSERT … SELECT, no RETURNING) and write a "+" history row for
        each assignment it inserted or refreshed; per tag id, how many. The history rows' ids
        go into ``history_ids`` when given."""

    @abstractmethod
    def _delete(
        self, where: str, params: list, stamp: Stamp, history_ids: list | None = None
    ) -> Counter:
        """Delete the assignments matching ``where`` and write a "-" history row for each;
        per tag id, how many (history ids into ``history_ids`` when given)."""

    @abstractmethod
    def _change_batch(
        self,
        batch: Sequence[StoredId],
        *,
        add: Sequence[StoredId],
        remove: Sequence[StoredId],
        values: AssignmentValues,
        stamp: Stamp,
        events: ChangeEvents | None,
    ) -> tuple[Counter, Counter]:
        """One batch of customers: remove, add, their history rows and (``events``) one
        ``customer.tags_changed`` event per customer changed; (added, removed) per tag."""

    @abstractmethod
    def _ints_in(self, column: str, values: Sequence[int]) -> tuple[str, list]:
        """The condition ``column`` is one of the integers ``values`` (one parameter)."""

    @abstractmethod
    def _tags_changed_select(
        self, rows: str, params: list, events: ChangeEvents, *, one_per_customer: bool
    ) -> tuple[str, list]:
        """A SELECT of ``customer_id, subject_id, data`` for ``events_insert_select_sql``:
        one row per customer of ``rows`` (assignment columns and ``kind``, "+" or "-"), its
        ``data`` the ``added`` and ``removed`` lists (sorted by tag name) and the reason.
        ``one_per_customer``: the rows hold at most one per customer (no grouping needed)."""

    @abstractmethod
    def _holding_more_than(self, customers: Sequence[StoredId], count: int) -> list[StoredId]:
        """Of one batch of customers, those holding more than ``count`` assignments of any
        kind (expired ones and those of deleted tags included)."""

    @abstractmethod
    def lock_customers(self, customers: Sequence[StoredId]) -> None:
        """Keep other writers off these customers' assignments until the transaction ends."""

    @abstractmethod
    def near_limit(
        self, customers: Sequence[StoredId], *, adding: int, limit: int
    ) -> list[StoredId] | None:
        """Before adding ``adding`` tags: the customers the add could take past ``limit``, or
        None when counting every customer after the write is as cheap."""

    # --- the same on both -------------------------------------------------------------------

    def stored(self, value: str | uuid.UUID) -> StoredId:
        """One id given as a ULID string or a UUID, as a ``StoredId`` of this database."""
        as_uuid = value if isinstance(value, uuid.UUID) else ulid_to_uuid(value)
        return StoredId(self._stored_text(as_uuid))

    def max_params(self) -> int:
        if self._max_params is None:
            self._max_params = self._statement_limit()
        return self._max_params

    def batches(self, values: Sequence, *, reserve: int, per_item: int = 1) -> Iterable[Sequence]:
        """``values`` in slices that fit a statement, at ``per_item`` parameters each, beside
        ``reserve`` other parameters."""
        size = max(1, (self.max_params() - reserve) // per_item)
        for start in range(0, len(values), size):
            yield values[start : start + size]

    def _upsert(self, select: str, params: list, now: datetime) -> tuple[str, list]:
        """INSERT of the assignments ``select`` yields: a customer holding the tag keeps its
        assignment unless it has expired, when it is refreshed in place (a write, counted)."""
        table = _table(TagAssignment)
        expired, expired_params = expired_assignment_sql(f"{table}.expires_at", now)
        return (
            f"INSERT INTO {table} ({', '.join(COLUMNS[1:])}) {select} "
            "ON CONFLICT (customer_id, tag_id) DO UPDATE SET category = excluded.category, "
            "source = excluded.source, expires_at = excluded.expires_at, "
            "assigned_by_id = excluded.assigned_by_id, created_at = excluded.created_at "
            f"WHERE {expired}"
        ), [*params, *expired_params]

    def _add_sql(
        self, batch: Sequence[StoredId], tags: Sequence[StoredId], values: AssignmentValues, stamp
    ) -> tuple[str, list]:
        """The upsert giving every tag to every customer of ``batch``."""
        in_tags, tag_params = self.one_of("t.id", tags)
        in_batch, batch_params = self.one_of("c.id", batch)
        row = [
            values.category,
            values.source,
            _prep("expires_at", values.expires_at),
            stamp.user_id,
            _prep("created_at", stamp.now),
        ]
        return self._upsert(
            f"SELECT c.id, t.id, %s, %s, %s, %s, %s FROM {_table(Customer)} c, "
            f"{_table(Tag)} t WHERE {in_batch} AND {in_tags}",
            [*row, *batch_params, *tag_params],
            stamp.now,
        )

    def _remove_where(
        self, batch: Sequence[StoredId], tags: Sequence[StoredId], stamp: Stamp
    ) -> tuple[str, list]:
        """The condition of the unexpired assignments of ``tags`` held by ``batch``."""
        in_tags, tag_params = self.one_of("tag_id", tags)
        in_batch, batch_params = self.one_of("customer_id", batch)
        unexpired, unexpired_params = unexpired_assignment_sql("expires_at", stamp.now)
        return (
            f"{in_batch} AND {in_tags} AND {unexpired}",
            [*batch_params, *tag_params, *unexpired_params],
        )

    def change(
        self,
        *,
        customers: Sequence[StoredId],
        add: Sequence[StoredId] = (),
        remove: Sequence[StoredId] = (),
        values: AssignmentValues | None = None,
        stamp: Stamp,
        events: ChangeEvents | None = None,
    ) -> tuple[Counter, Counter]:
        """Take ``remove`` off the customers where unexpired, then give them every tag of
        ``add`` they lack (or hold expired), with history rows, and with ``events`` one
        ``customer.tags_changed`` event per customer changed (both lists in one event);
        (added, removed) per tag. Customers that no longer exist are skipped."""
        added: Counter = Counter()
        removed: Counter = Counter()
        if not customers or not (add or remove):
            return added, removed
        values = values or AssignmentValues(category="", source="", expires_at=None)
        for batch in self.batches(customers, reserve=len(add) + len(remove) + 40):
            batch_added, batch_removed = self._change_batch(
                batch, add=add, remove=remove, values=values, stamp=stamp, events=events
            )
            added += batch_added
            removed += batch_removed
        return added, removed

    def add(
        self,
        *,
        customers: Sequence[StoredId],
        tags: Sequence[StoredId],
        values: AssignmentValues,
        stamp: Stamp,
    ) -> Counter:
        """Give every tag to every customer lacking it (or holding it expired); per tag, how
        many assignments were written. Customers that no longer exist are skipped."""
        return self.change(customers=customers, add=tags, values=values, stamp=stamp)[0]

    def remove(
        self, *, customers: Sequence[StoredId], tags: Sequence[StoredId], stamp: Stamp
    ) -> Counter:
        """Take the tags off the customers where they are unexpired; per tag, how many."""
        return self.change(customers=customers, remove=tags, stamp=stamp)[1]

    def tag_map(self, names: Mapping[str, str]) -> list[tuple[str, str, str]]:
        """(stored id, name, ULID) of each tag an event names."""
        return [(self.stored(ulid), name, ulid) for ulid, name in names.items()]

    def tags_changed_insert(
        self, rows: str, params: list, events: ChangeEvents, *, one_per_customer: bool = False
    ) -> tuple[str, list]:
        """The INSERT of one ``customer.tags_changed`` event per customer of ``rows``."""
        select, select_params = self._tags_changed_select(
            rows, params, events, one_per_customer=one_per_customer
        )
        return events_insert_select_sql(
            type=TAGS_CHANGED, select_sql=select, params=select_params, common=events.common
        )

    def record_events(self, rows: str, params: list, events: ChangeEvents) -> int:
        """One ``customer.tags_changed`` event per customer of ``rows``, in one statement."""
        sql, sql_params = self.tags_changed_insert(rows, params, events)
        with connection.cursor() as cursor:
            cursor.execute(sql, sql_params)
            return cursor.rowcount

    def events_from_history(self, history_ids: Sequence[int], events: ChangeEvents) -> int:
        """One event per customer of the history rows ``history_ids`` (written by this
        transaction), in one statement: the rows as the write recorded them."""
        if not history_ids:
            return 0
        in_ids, params = self._ints_in("history_id", history_ids)
        return self.record_events(
            f"SELECT {', '.join(COLUMNS)}, history_type AS kind "
            f"FROM {_table(HistoricalTagAssignment)} WHERE {in_ids}",
            params,
            events,
        )

    def events_for_tag_removal(self, tag: StoredId, events: ChangeEvents, now: datetime) -> int:
        """Before a tag's assignments go with it: one event per customer holding it
        unexpired, each naming it removed."""
        of_tag, params = self.one_of("tag_id", [tag])
        unexpired, unexpired_params = unexpired_assignment_sql("expires_at", now)
        return self.record_events(
            f"SELECT {', '.join(COLUMNS)}, '-' AS kind FROM {_table(TagAssignment)} "
            f"WHERE {of_tag} AND {unexpired}",
            [*params, *unexpired_params],
            events,
        )

    def move(
        self,
        *,
        source: StoredId,
        target: StoredId,
        stamp: Stamp,
        history_ids: list | None = None,
    ) -> tuple[int, int]:
        """Every assignment of ``source`` onto ``target`` (a customer holding the target keeps
        its own, unless expired), then off ``source``: (written to target, taken off source).
        The history rows' ids go into ``history_ids`` when given."""
        of_source, source_params = self.one_of("a.tag_id", [source])
        is_target, target_params = self.one_of("t.id", [target])
        insert, params = self._upsert(
            "SELECT a.customer_id, t.id, a.category, a.source, a.expires_at, a.assigned_by_id, "
            f"a.created_at FROM {_table(TagAssignment)} a, {_table(Tag)} t "
            f"WHERE {of_source} AND {is_target}",
            [*source_params, *target_params],
            stamp.now,
        )
        added = self._insert(insert, params, stamp, history_ids)
        removed = self._delete(*self.one_of("tag_id", [source]), stamp, history_ids)
        return added.total(), removed.total()

    def revert(
        self,
        *,
        change_set: StoredId,
        low: int,
        high: int,
        stamp: Stamp,
        events: ChangeEvents,
    ) -> tuple[int, int]:
        """Undo what the history rows of ``change_set`` numbered ``low``–``high`` record, only
        where the assignment is still what they left: an assignment it added (its "+" row)
        is taken off if it is that very row (same id and ``created_at``: not removed or
        re-added since); one it removed (its "-" row) comes back with its category, source,
        expiry, assigner (unless that user is gone) and ``created_at`` if the customer
        holds no assignment of that tag (and customer and tag still exist). History rows
        and one event per customer changed, as every change. Returns (added, removed)."""
        table, history = _table(TagAssignment), _table(HistoricalTagAssignment)
        of_set, set_params = self.one_of("h.change_set_id", [change_set])
        rows = f"{of_set} AND h.history_id >= %s AND h.history_id <= %s"
        rows_params = [*set_params, low, high]
        history_ids: list[int] = []
        # uncorrelated, so the database joins the batch's rows to the assignments (a
        # semi-join by key); correlated, it ran the subquery once per assignment in the table
        removed = self._delete(
            "(id, customer_id, tag_id, created_at) IN (SELECT h.id, h.customer_id, h.tag_id, "
            f"h.created_at FROM {history} h WHERE {rows} AND h.history_type = '+')",
            rows_params,
            stamp,
            history_ids,
        )
        users = _table(get_user_model())
        added = self._insert(
            f"INSERT INTO {table} ({', '.join(COLUMNS[1:])}) SELECT h.customer_id, h.tag_id, "
            f"h.category, h.source, h.expires_at, (SELECT u.id FROM {users} u WHERE "
            f"u.id = h.assigned_by_id), h.created_at FROM {history} h WHERE {rows} "
            f"AND h.history_type = '-' "
            f"AND EXISTS (SELECT 1 FROM {_table(Customer)} c WHERE c.id = h.customer_id) "
            f"AND EXISTS (SELECT 1 FROM {_table(Tag)} t WHERE t.id = h.tag_id) "
            f"AND NOT EXISTS (SELECT 1 FROM {table} a WHERE a.customer_id = h.customer_id "
            "AND a.tag_id = h.tag_id) ON CONFLICT (customer_id, tag_id) DO NOTHING",
            rows_params,
            stamp,
            history_ids,
        )
        self.events_from_history(history_ids, events)
        return added.total(), removed.total()

    def over_limit(
        self, customers: Sequence[StoredId], *, limit: int, now: datetime
    ) -> list[StoredId]:
        """Up to five of the customers holding more than ``limit`` current assignments: first
        an upper bound from the (customer, tag) index alone, and only for customers past it
        the current ones counted, so the usual case costs one index scan per batch."""
        over: list[StoredId] = []
        for batch in self.batches(customers, reserve=10):
            suspects = self._holding_more_than(batch, limit)
            if not suspects:
                continue
            in_suspects, params = self.one_of("a.customer_id", suspects)
            current, current_params = current_assignment_sql(assignment="a", tag="t", now=now)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT CAST(a.customer_id AS text) FROM {_table(TagAssignment)} a "
                    f"JOIN {_table(Tag)} t ON t.id = a.tag_id WHERE {in_suspects} AND {current} "
                    "GROUP BY a.customer_id HAVING count(*) > %s LIMIT 5",
                    [*params, *current_params, limit],
                )
                over += [StoredId(row[0]) for row in cursor.fetchall()]
            if over:
                break
        return over[:5]

    def delete_by_ids(self, ids: Sequence[int]) -> list[AssignmentRow]:
        """Delete assignments by primary key; returns the deleted rows."""
        removed: list[AssignmentRow] = []
        for batch in self.batches(list(ids), reserve=10):
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {_table(TagAssignment)} WHERE id IN ({_marks(batch)}) "
                    f"RETURNING {', '.join(COLUMNS)}",
                    list(batch),
                )
                removed += [self._row(values) for values in cursor.fetchall()]
        return removed

    def _row(self, values: tuple) -> AssignmentRow:
        id_, customer_id, tag_id, category, source, expires_at, by, created_at = values
        return AssignmentRow(
            id=id_,
            customer_id=uuid_to_ulid(uuid_from_db(customer_id)),
            tag_id=uuid_to_ulid(uuid_from_db(tag_id)),
            category=category,
            source=source,
            expires_at=_datetime(expires_at),
            assigned_by_id=by,
            created_at=_datetime(created_at),
        )

    def record_history(
        self, rows_by_type: dict[str, Sequence[AssignmentRow]], stamp: Stamp
    ) -> list[int]:
        """Insert history rows ("+" added, "-" removed) for rows in hand, dated
        ``stamp.now``: one statement per batch; returns their ids."""
        history_at = _prep("created_at", stamp.now)
        history = stamp.history()
        values = [
            [
                row.id,
                self.stored(row.customer_id),
                self.stored(row.tag_id),
                row.category,
                row.source,
                _prep("expires_at", row.expires_at),
                row.assigned_by_id,
                _prep("created_at", row.created_at),
                history_at,
                history_type,
                *history,
            ]
            for history_type, rows in rows_by_type.items()
            for row in rows
        ]
        row_marks = "(" + _marks(HISTORY_COLUMNS) + ")"
        history_ids: list[int] = []
        for batch in self.batches(values, reserve=0, per_item=len(HISTORY_COLUMNS)):
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {_table(HistoricalTagAssignment)} "
                    f"({', '.join(HISTORY_COLUMNS)}) VALUES {', '.join([row_marks] * len(batch))} "
                    "RETURNING history_id",
                    [value for row in batch for value in row],
                )
                history_ids += [row[0] for row in cursor.fetchall()]
        return history_ids


class PostgresAssignmentWriter(AssignmentWriter):
    """One statement per batch: a data-modifying CTE writes the assignments and, from what
    they RETURN, their history rows (and a change's events). Ids go as one ``uuid[]`` array
    parameter."""

    def _statement_limit(self) -> int:
        return MAX_PARAMS

    def _stored_text(self, value: uuid.UUID) -> str:
        return str(value)

    def _array(self, ids: Sequence[StoredId]) -> str:
        """Ids as one array literal: one parameter to quote and send, not thousands."""
        return "{" + ",".join(ids) + "}"

    def _with_history(
        self,
        write: str,
        params: list,
        history_type: str,
        stamp: Stamp,
        history_ids: list | None = None,
    ) -> Counter:
        # history_date is the clock at each row's write, after any lock wait, so for one
        # assignment the history order is the commit order.
        ids = ", array_agg(history_id)" if history_ids is not None else ""
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH w AS ({write} RETURNING {', '.join(COLUMNS)}), "
                f"hist AS ({_history_insert('clock_timestamp()', 'w')} "
                "RETURNING history_id, tag_id) "
                f"SELECT CAST(tag_id AS text), count(*){ids} FROM hist GROUP BY tag_id",
                [*params, history_type, *stamp.history()],
            )
            rows = cursor.fetchall()
        if history_ids is not None:
            history_ids += [i for row in rows for i in row[2]]
        return _per_tag(Counter({row[0]: row[1] for row in rows}))

    def _insert(
        self, insert: str, params: list, stamp: Stamp, history_ids: list | None = None
    ) -> Counter:
        return self._with_history(insert, params, "+", stamp, history_ids)

    def _delete(
        self, where: str, params: list, stamp: Stamp, history_ids: list | None = None
    ) -> Counter:
        return self._with_history(
            f"DELETE FROM {_table(TagAssignment)} WHERE {where}", params, "-", stamp, history_ids
        )

    def _change_batch(
        self,
        batch: Sequence[StoredId],
        *,
        add: Sequence[StoredId],
        remove: Sequence[StoredId],
        values: AssignmentValues,
        stamp: Stamp,
        events: ChangeEvents | None,
    ) -> tuple[Counter, Counter]:
        """One statement: the delete, the upsert, the history rows of both and the events,
        all data-modifying CTEs reading what the writes RETURN (remove and add name different
        tags, so the two writes never meet on one row)."""
        columns = ", ".join(COLUMNS)
        history = stamp.history()
        ctes, params, counts, rows = [], [], [], []
        if remove:
            where, where_params = self._remove_where(batch, remove, stamp)
            ctes += [
                f"d AS (DELETE FROM {_table(TagAssignment)} WHERE {where} RETURNING {columns})",
                f"dh AS ({_history_insert('clock_timestamp()', 'd')} RETURNING tag_id)",
            ]
            params += [*where_params, "-", *history]
            counts.append("SELECT '-', CAST(tag_id AS text), count(*) FROM dh GROUP BY tag_id")
            rows.append(f"SELECT {columns}, '-' AS kind FROM d")
        if add:
            insert, insert_params = self._add_sql(batch, add, values, stamp)
            ctes += [
                f"w AS ({insert} RETURNING {columns})",
                f"wh AS ({_history_insert('clock_timestamp()', 'w')} RETURNING tag_id)",
            ]
            params += [*insert_params, "+", *history]
            counts.append("SELECT '+', CAST(tag_id AS text), count(*) FROM wh GROUP BY tag_id")
            rows.append(f"SELECT {columns}, '+' AS kind FROM w")
        if events is not None:
            insert, insert_params = self.tags_changed_insert(
                " UNION ALL ".join(rows),
                [],
                events,
                one_per_customer=len(add) + len(remove) == 1,
            )
            ctes.append(f"ev AS ({insert})")
            params += insert_params
        with connection.cursor() as cursor:
            cursor.execute(f"WITH {', '.join(ctes)} {' UNION ALL '.join(counts)}", params)
            found = cursor.fetchall()
        return (
            _per_tag(Counter({tag: n for kind, tag, n in found if kind == "+"})),
            _per_tag(Counter({tag: n for kind, tag, n in found if kind == "-"})),
        )

    def _ints_in(self, column: str, values: Sequence[int]) -> tuple[str, list]:
        return f"{column} = ANY(%s::bigint[])", [list(values)]

    def _tags_changed_select(
        self, rows: str, params: list, events: ChangeEvents, *, one_per_customer: bool
    ) -> tuple[str, list]:
        tags = self.tag_map(events.names)
        expires = (
            "CASE WHEN r.expires_at IS NULL THEN NULL ELSE "
            "to_char(r.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
            "CASE WHEN extract(microseconds FROM r.expires_at)::bigint %% 1000000 = 0 THEN '' "
            "ELSE to_char(r.expires_at AT TIME ZONE 'UTC', '.MS') END || 'Z' END"
        )
        entries = (
            "SELECT r.customer_id, r.kind, m.name, jsonb_build_object('name', m.name, "
            "'tag_id', m.ulid, 'category', r.category, 'source', r.source, "
            f"'expires_at', {expires}) AS entry FROM ({rows}) r "
            "JOIN unnest(%s::uuid[], %s::text[], %s::text[]) AS m(id, name, ulid) "
            "ON m.id = r.tag_id"
        )
        entries_params = [
            *params,
            self._array([t[0] for t in tags]),
            [t[1] for t in tags],
            [t[2] for t in tags],
        ]
        reason = [events.reason or None]
        if one_per_customer:
            return (
                "SELECT e.customer_id, e.customer_id AS subject_id, jsonb_build_object("
                "'added', CASE WHEN e.kind = '+' THEN jsonb_build_array(e.entry) "
                "ELSE '[]'::jsonb END, 'removed', CASE WHEN e.kind = '-' THEN "
                "jsonb_build_array(e.entry) ELSE '[]'::jsonb END, 'reason', %s::text) AS data "
                f"FROM ({entries}) e",
                [*reason, *entries_params],
            )
        return (
            "SELECT e.customer_id, e.customer_id AS subject_id, jsonb_build_object("
            "'added', COALESCE(jsonb_agg(e.entry ORDER BY e.name) FILTER (WHERE e.kind = '+'), "
            "'[]'::jsonb), 'removed', COALESCE(jsonb_agg(e.entry ORDER BY e.name) "
            "FILTER (WHERE e.kind = '-'), '[]'::jsonb), 'reason', %s::text) AS data "
            f"FROM ({entries}) e GROUP BY e.customer_id",
            [*reason, *entries_params],
        )

    def _holding_more_than(self, customers: Sequence[StoredId], count: int) -> list[StoredId]:
        # an index-only count per customer
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT CAST(c AS text) FROM unnest(%s::uuid[]) c WHERE "
                f"(SELECT count(*) FROM {_table(TagAssignment)} WHERE customer_id = c) > %s",
                [self._array(customers), count],
            )
            return [StoredId(row[0]) for row in cursor.fetchall()]

    def lock_customers(self, customers: Sequence[StoredId]) -> None:
        """Lock the customers' rows, in id order (so two lockers queue, never deadlock)."""
        for batch in self.batches(customers, reserve=10):
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT 1 FROM {_table(Customer)} WHERE id = ANY(%s::uuid[]) "
                    "ORDER BY id FOR NO KEY UPDATE",
                    [self._array(batch)],
                )

    def near_limit(
        self, customers: Sequence[StoredId], *, adding: int, limit: int
    ) -> list[StoredId]:
        if not customers or not adding:
            return []
        near: list[StoredId] = []
        for batch in self.batches(customers, reserve=10):
            near += self._holding_more_than(batch, limit - adding)
        return near


class SqliteAssignmentWriter(AssignmentWriter):
    """Two statements per batch (SQLite has no INSERT or DELETE inside WITH): the write and
    the history rows (and the events: one more, reading those history rows). A list of ids
    goes as one JSON array (the JSON functions are built in,
    and JSONField needs them anyway), read by ``json_each``."""

    def _statement_limit(self) -> int:
        connection.ensure_connection()
        limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        return min(MAX_PARAMS, limit)

    def _stored_text(self, value: uuid.UUID) -> str:
        return value.hex

    def _insert(
        self, insert: str, params: list, stamp: Stamp, history_ids: list | None = None
    ) -> Counter:
        at = _prep("created_at", stamp.now)
        table = _table(TagAssignment)
        returning = " RETURNING history_id" if history_ids is not None else ""
        with connection.cursor() as cursor:
            # ids and tag ids as returned: no per-row conversion for a million rows
            cursor.execute(f"{insert} RETURNING id, tag_id", params)
            returned = cursor.fetchall()
            ids = [row[0] for row in returned]
            for chunk in self.batches(ids, reserve=20):
                cursor.execute(
                    _history_insert("%s", f"{table} WHERE id IN ({_marks(chunk)})") + returning,
                    [at, "+", *stamp.history(), *chunk],
                )
                if history_ids is not None:
                    history_ids += [row[0] for row in cursor.fetchall()]
        return _per_tag(Counter(tag for _, tag in returned))

    def _delete(
        self, where: str, params: list, stamp: Stamp, history_ids: list | None = None
    ) -> Counter:
        at = _prep("created_at", stamp.now)
        table = _table(TagAssignment)
        returning = " RETURNING history_id" if history_ids is not None else ""
        with connection.cursor() as cursor:
            # The transaction holds the database's write lock, so the rows read for the
            # history are exactly the rows the DELETE then removes.
            cursor.execute(
                _history_insert("%s", f"{table} WHERE {where}") + returning,
                [at, "-", *stamp.history(), *params],
            )
            if history_ids is not None:
                history_ids += [row[0] for row in cursor.fetchall()]
            cursor.execute(f"DELETE FROM {table} WHERE {where} RETURNING tag_id", params)
            return _per_tag(Counter(tag for (tag,) in cursor.fetchall()))

    def _change_batch(
        self,
        batch: Sequence[StoredId],
        *,
        add: Sequence[StoredId],
        remove: Sequence[StoredId],
        values: AssignmentValues,
        stamp: Stamp,
        events: ChangeEvents | None,
    ) -> tuple[Counter, Counter]:
        """The remove's and the add's statements, then (``events``) one more: the events,
        from the history rows the two wrote."""
        history_ids: list[int] | None = [] if events is not None else None
        removed = (
            self._delete(*self._remove_where(batch, remove, stamp), stamp, history_ids)
            if remove
            else Counter()
        )
        added = (
            self._insert(*self._add_sql(batch, add, values, stamp), stamp, history_ids)
            if add
            else Counter()
        )
        if events is not None:
            self.events_from_history(history_ids, events)
        return added, removed

    def _ints_in(self, column: str, values: Sequence[int]) -> tuple[str, list]:
        return f"{column} IN (SELECT value FROM json_each(%s))", [
            "[" + ",".join(str(int(v)) for v in values) + "]"
        ]

    def _tags_changed_select(
        self, rows: str, params: list, events: ChangeEvents, *, one_per_customer: bool
    ) -> tuple[str, list]:
        # stored as 'YYYY-MM-DD HH:MM:SS[.ffffff]' (UTC): ISO 8601 to the millisecond, as
        # DjangoJSONEncoder writes datetimes
        expires = (
            "CASE WHEN length(r.expires_at) > 19 THEN substr(replace(r.expires_at, ' ', 'T'), "
            "1, 23) ELSE replace(r.expires_at, ' ', 'T') END || 'Z'"
        )
        tags = json.dumps([list(t) for t in self.tag_map(events.names)])
        entries = (
            "SELECT r.customer_id, r.kind, m.name, json_object('name', m.name, "
            "'tag_id', m.ulid, 'category', r.category, 'source', r.source, "
            f"'expires_at', {expires}) AS entry FROM ({rows}) r JOIN (SELECT "
            "json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS name, "
            "json_extract(value, '$[2]') AS ulid FROM json_each(%s)) m ON m.id = r.tag_id "
            "ORDER BY r.customer_id, m.name"
        )
        # SQLite 3.40 has no ORDER BY inside an aggregate: the rows come sorted instead
        return (
            "SELECT e.customer_id, e.customer_id AS subject_id, json_object("
            "'added', json_group_array(json(e.entry)) FILTER (WHERE e.kind = '+'), "
            "'removed', json_group_array(json(e.entry)) FILTER (WHERE e.kind = '-'), "
            f"'reason', %s) AS data FROM ({entries}) e GROUP BY e.customer_id",
            [events.reason or None, *params, tags],
        )

    def _holding_more_than(self, customers: Sequence[StoredId], count: int) -> list[StoredId]:
        in_batch, params = self.one_of("customer_id", customers)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT customer_id FROM {_table(TagAssignment)} WHERE {in_batch} "
                "GROUP BY customer_id HAVING count(*) > %s",
                [*params, count],
            )
            return [StoredId(row[0]) for row in cursor.fetchall()]

    def lock_customers(self, customers: Sequence[StoredId]) -> None:
        """Nothing to do: SQLite's one write lock already serialises writers."""

    def near_limit(self, customers: Sequence[StoredId], *, adding: int, limit: int) -> None:
        """None: on SQLite counting every customer after the write is cheap enough."""
        return None


assignment_writer = per_database(
    {"postgresql": PostgresAssignmentWriter, "sqlite": SqliteAssignmentWriter}
)


# --- the boundary: what the services call -----------------------------------------------------


def _stored(writer: AssignmentWriter, ids: Iterable[str | StoredId]) -> list[StoredId]:
    """Ids as ``StoredId``s, the writers' one id type: ``StoredId``s pass as they are, ULID
    strings (primary keys as the models give them) are converted. Nothing is guessed from a
    string's length: a plain string that is not a ULID is an error."""
    return [id_ if isinstance(id_, StoredId) else writer.stored(id_) for id_ in ids]


def _tags(writer: AssignmentWriter, tag_ids: Sequence[str]) -> dict[StoredId, str]:
    """The tags as ``StoredId``s, each mapped back to the id the caller gave."""
    return dict(zip(_stored(writer, tag_ids), tag_ids, strict=True))


def assignments_change(
    *,
    customer_ids: Sequence,
    add_tag_ids: Sequence[str],
    remove_tag_ids: Sequence[str],
    category: str,
    source: str,
    expires_at: datetime | None,
    user_id: int | None,
    reason: str,
    now: datetime,
    events: ChangeEvents | None = None,
    change_set_id: str | None = None,
) -> tuple[Changed, Changed]:
    """Remove, then add, with history rows and, given ``events``, one ``customer.tags_changed``
    event per customer changed, written from the rows the statements changed: on PostgreSQL
    inside the same statement (one per batch), on SQLite one more statement per batch. The
    history rows carry ``change_set_id`` (the events carry the one of ``events.common``).
    Returns (added, removed) per tag id.

    Adding leaves a current assignment alone; an expired one is refreshed in place and counts
    as added again, as does one given an expiry already past (a real, if invisible, change).
    Removing takes only current assignments: an expired one is already gone for the customer,
    so taking it off would change nothing visible; it stays until ``expire_tags`` records its
    expiry. Ids of customers that no longer exist are skipped."""
    writer = assignment_writer()
    add, remove = _tags(writer, add_tag_ids), _tags(writer, remove_tag_ids)
    added, removed = writer.change(
        customers=_stored(writer, customer_ids),
        add=list(add),
        remove=list(remove),
        values=AssignmentValues(category=category, source=source, expires_at=expires_at),
        stamp=Stamp(user_id=user_id, reason=reason, now=now, change_set_id=change_set_id),
        events=events,
    )
    return (
        Changed(by_tag=Counter({add[tag]: n for tag, n in added.items()})),
        Changed(by_tag=Counter({remove[tag]: n for tag, n in removed.items()})),
    )


def assignments_move(
    *,
    from_tag_id: str,
    to_tag_id: str,
    user_id: int | None,
    reason: str,
    now: datetime,
    history_ids: list | None = None,
    change_set_id: str | None = None,
) -> tuple[int, int]:
    """Move every assignment of one tag to another (a merge), with history: a customer that
    already holds the target keeps its own assignment (an expired one is replaced). Returns
    (assignments added to the target, assignments taken off the source); the ids of the
    history rows written go into ``history_ids`` when given (for
    :func:`assignments_events_from_history`). The history rows carry ``change_set_id``."""
    writer = assignment_writer()
    source, target = _stored(writer, [from_tag_id, to_tag_id])
    stamp = Stamp(user_id=user_id, reason=reason, now=now, change_set_id=change_set_id)
    return writer.move(source=source, target=target, stamp=stamp, history_ids=history_ids)


def assignments_revert(
    *,
    change_set_id: str,
    low: int,
    high: int,
    user_id: int | None,
    reason: str,
    now: datetime,
    revert_id: str,
    events: ChangeEvents,
) -> tuple[int, int]:
    """Undo the changes of a change-set recorded by its history rows ``low``–``high``
    (history ids), where the assignments are still as it left them (the writer's
    ``revert``), with history rows carrying ``revert_id`` and events; (added, removed)."""
    writer = assignment_writer()
    stamp = Stamp(user_id=user_id, reason=reason, now=now, change_set_id=revert_id)
    return writer.revert(
        change_set=writer.stored(change_set_id), low=low, high=high, stamp=stamp, events=events
    )


def assignments_events_from_history(*, history_ids: Sequence[int], events: ChangeEvents) -> int:
    """One ``customer.tags_changed`` event per customer of these history rows (written in
    this transaction), in one statement; "+" rows are its added tags, "-" its removed ones.
    ``events.names`` must name every tag of the rows. Returns how many events."""
    return assignment_writer().events_from_history(history_ids, events)


def assignments_tag_removal_events(*, tag_id: str, events: ChangeEvents, now: datetime) -> int:
    """Before a tag is deleted for good with its assignments: one event per customer that
    holds it unexpired, naming it removed, in one statement."""
    writer = assignment_writer()
    return writer.events_for_tag_removal(writer.stored(tag_id), events, now)


def customers_lock(customer_ids: Sequence) -> None:
    """Lock the customers' rows, in id order, for the rest of the transaction (PostgreSQL;
    SQLite's one write lock already serialises writers).

    A single-customer change takes it first, so two calls on one customer that delete and
    insert different tags queue instead of deadlocking on each other's assignment rows. Bulk
    changes do not (a million row locks would cost more than their writes); they retry a
    batch that loses a deadlock instead.
    """
    writer = assignment_writer()
    writer.lock_customers(_stored(writer, customer_ids))


def customers_near_limit(
    *, customer_ids: Sequence, adding: int, limit: int
) -> list[StoredId] | None:
    """Before a bulk add: the customers holding more than ``limit - adding`` assignments of
    any kind, the only ones the add could take past the limit. None on SQLite, where the count
    after the write is cheap enough to do for all."""
    writer = assignment_writer()
    return writer.near_limit(_stored(writer, customer_ids), adding=adding, limit=limit)


def customers_over_limit(*, customer_ids: Sequence, limit: int, now: datetime) -> list[str]:
    """Up to five of these customers holding more than ``limit`` current tags, as ULIDs.

    First an upper bound from the (customer, tag) index alone: every assignment, expired or
    of a deleted tag included. Only when some customer passes the limit that way are the
    current ones counted, so the usual case costs one index scan per batch.
    """
    writer = assignment_writer()
    over = writer.over_limit(_stored(writer, customer_ids), limit=limit, now=now)
    return [uuid_to_ulid(uuid.UUID(customer)) for customer in over]


def assignments_delete_by_ids(*, ids: Sequence[int]) -> list[AssignmentRow]:
    """Delete assignments by primary key; returns the deleted rows."""
    return assignment_writer().delete_by_ids(ids)


def assignments_history_record(
    *,
    rows_by_type: dict[str, Sequence[AssignmentRow]],
    user_id: int | None,
    reason: str,
    at: datetime | None = None,
) -> list[int]:
    """Bulk-insert history rows ("+" added, "-" removed) for assignments, in one statement per
    batch, with the user and reason of the operation (never per-row saves or signals); returns
    their ids."""
    stamp = Stamp(user_id=user_id, reason=reason, now=at or timezone.now())
    return assignment_writer().record_history(rows_by_type, stamp)
