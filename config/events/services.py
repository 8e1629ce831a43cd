"""Writing the event log: inside the change's own transaction, or not at all.

Every writer refuses to run outside a transaction (``TransactionRequired``): an event is
written by the service that makes the change, in the same transaction, so a change that fails
leaves no event and an event never describes a change that did not happen. The actor and the
request id come from the running request, command or job (``config.context``).

Three writers:
- ``event_record``: one event (one INSERT);
- ``events_record_many``: many prepared events in one statement (PostgreSQL: ``unnest`` of
  arrays; SQLite: multi-row VALUES, one statement per ~2,700 rows);
- ``events_insert_select``: one statement that turns the rows of a SELECT into events, so a
  bulk path can write one event per changed customer without the rows ever reaching Python.

Retention: ``events_prune`` deletes what is older than ``EVENTS_RETENTION_DAYS``, batch by
batch, the only delete the log ever sees.
"""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone
from ulid import ULID

from config.bulk import max_query_params
from config.context import Actor, current_actor, current_request_id
from config.events.models import EVENT_TYPES, Event
from config.fields import new_ulid

TABLE = Event._meta.db_table
COLUMNS = (
    "id",
    "txid",
    "type",
    "occurred_at",
    "actor_type",
    "actor_id",
    "actor_username",
    "request_id",
    "change_set_id",
    "customer_id",
    "subject_id",
    "data",
)
PRUNE_BATCH_SIZE = 5000


class TransactionRequired(RuntimeError):
    """An event writer was called outside a transaction (a programming error)."""


@dataclass(frozen=True)
class EventDraft:
    """One event for ``events_record_many``: what the change was and what it touched."""

    type: str
    customer_id: str | None = None
    subject_id: str | None = None
    data: dict = field(default_factory=dict)


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise TransactionRequired(
            "Events are written inside the transaction of the change they describe "
            "(call the writer within transaction.atomic())."
        )


def _check_type(event_type: str) -> None:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"Unknown event type {event_type!r}; known: {', '.join(EVENT_TYPES)}.")


def _common(
    *, change_set_id: str | None, occurred_at: datetime | None, actor: Actor | None
) -> dict:
    actor = actor or current_actor()
    return {
        "occurred_at": occurred_at or timezone.now(),
        "actor_type": actor.type,
        "actor_id": actor.id or "",
        "actor_username": actor.username,
        "request_id": current_request_id() or "",
        "change_set_id": change_set_id,
    }


def event_record(
    *,
    type: str,
    customer_id: str | None = None,
    subject_id: str | None = None,
    data: dict | None = None,
    change_set_id: str | None = None,
    occurred_at: datetime | None = None,
    actor: Actor | None = None,
) -> Event:
    """Record one event in the caller's transaction; the actor is the running request's,
    command's or job's unless given."""
    _require_transaction()
    _check_type(type)
    return Event.objects.create(
        type=type,
        customer_id=customer_id,
        subject_id=subject_id,
        data=data or {},
        **_common(change_set_id=change_set_id, occurred_at=occurred_at, actor=actor),
    )


def _prep(name: str, value):
    return Event._meta.get_field(name).get_db_prep_value(value, connection, prepared=False)


def _json(data: dict) -> str:
    return json.dumps(data, cls=DjangoJSONEncoder, separators=(",", ":"))


def _new_id_sql() -> str:
    """A ULID made by the database, per row: 48 bits of milliseconds, then random bits.
    (``%%`` is a ``%`` once the statement's parameters are filled in.)"""
    if connection.vendor == "postgresql":
        return (
            "encode(overlay(uuid_send(gen_random_uuid()) placing "
            "substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) "
            "FROM 3) FROM 1 FOR 6), 'hex')::uuid"
        )
    return (
        "lower(printf('%%012x', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)) "
        "|| hex(randomblob(10)))"
    )


def _txid_sql() -> str:
    if connection.vendor == "postgresql":
        return "pg_current_xact_id()"
    return f"(SELECT COALESCE(MAX(txid), 0) + 1 FROM {TABLE})"


def _insert_prefix() -> str:
    return f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) "


def _common_params(common: dict) -> list:
    return [
        _prep("occurred_at", common["occurred_at"]),
        common["actor_type"],
        common["actor_id"],
        common["actor_username"],
        common["request_id"],
        _prep("change_set_id", common["change_set_id"]),
    ]


def events_record_many(
    *,
    events: Iterable[EventDraft],
    change_set_id: str | None = None,
    occurred_at: datetime | None = None,
    actor: Actor | None = None,
) -> int:
    """Record many events in the caller's transaction, set-based; returns how many."""
    _require_transaction()
    common = _common(change_set_id=change_set_id, occurred_at=occurred_at, actor=actor)
    shared = _common_params(common)
    written = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            drafts = list(events)
            for draft in drafts:
                _check_type(draft.type)
            if not drafts:
                return 0
            cursor.execute(
                f"{_insert_prefix()}SELECT r.id, pg_current_xact_id(), r.type, %s, %s, %s, %s, "
                "%s, %s, r.customer_id, r.subject_id, r.data FROM unnest("
                "%s::uuid[], %s::text[], %s::uuid[], %s::uuid[], %s::jsonb[]) "
                "AS r(id, type, customer_id, subject_id, data)",
                [
                    *shared,
                    [_prep("id", new_ulid()) for _ in drafts],
                    [d.type for d in drafts],
                    [_prep("customer_id", d.customer_id) for d in drafts],
                    [_prep("subject_id", d.subject_id) for d in drafts],
                    [_json(d.data) for d in drafts],
                ],
            )
            return cursor.rowcount
        # SQLite: rows of (id, type, customer, subject, data); the shared values once per row.
        per_row = 5 + len(shared)
        iterator = iter(events)
        while chunk := list(islice(iterator, max(1, max_query_params() // per_row))):
            rows, params = [], []
            for draft in chunk:
                _check_type(draft.type)
                rows.append(f"(%s, {_txid_sql()}, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")
                params += [
                    _prep("id", new_ulid()),
                    draft.type,
                    *shared,
                    _prep("customer_id", draft.customer_id),
                    _prep("subject_id", draft.subject_id),
                    _json(draft.data),
                ]
            cursor.execute(f"{_insert_prefix()}VALUES {', '.join(rows)}", params)
            written += len(chunk)
    return written


def events_insert_select(
    *,
    type: str,
    select_sql: str,
    params: Sequence = (),
    change_set_id: str | None = None,
    occurred_at: datetime | None = None,
    actor: Actor | None = None,
) -> int:
    """Record one ``type`` event per row of ``select_sql``, in one INSERT…SELECT in the
    caller's transaction; returns how many.

    ``select_sql`` (with ``params``) yields the columns ``customer_id``, ``subject_id`` (ids in
    the database's own form: a uuid on PostgreSQL, 32 hex characters on SQLite, or NULL) and
    ``data`` (a JSON object: jsonb on PostgreSQL, JSON text on SQLite). It may read rows the
    same statement changes, e.g. a data-modifying CTE's ``RETURNING`` rows on PostgreSQL, when
    given as the final SELECT of such a statement by the caller."""
    _require_transaction()
    _check_type(type)
    common = _common(change_set_id=change_set_id, occurred_at=occurred_at, actor=actor)
    sql, sql_params = events_insert_select_sql(
        type=type, select_sql=select_sql, params=params, common=common
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, sql_params)
        return cursor.rowcount


def events_insert_select_sql(
    *, type: str, select_sql: str, params: Sequence, common: dict
) -> tuple[str, list]:
    """The INSERT…SELECT of ``events_insert_select``, for callers that put it inside a bigger
    statement of their own (a data-modifying CTE)."""
    data = "src.data::jsonb" if connection.vendor == "postgresql" else "src.data"
    return (
        f"{_insert_prefix()}SELECT {_new_id_sql()}, {_txid_sql()}, %s, %s, %s, %s, %s, %s, %s, "
        f"src.customer_id, src.subject_id, {data} FROM ({select_sql}) AS src",
        [type, *_common_params(common), *params],
    )


def events_common(
    *,
    change_set_id: str | None = None,
    occurred_at: datetime | None = None,
    actor: Actor | None = None,
) -> dict:
    """Time, actor, request id and change-set shared by the events of one change (for
    ``events_insert_select_sql``)."""
    return _common(change_set_id=change_set_id, occurred_at=occurred_at, actor=actor)


def retention_boundary(*, now: datetime | None = None) -> str:
    """The lowest event id still kept: ids are ULIDs, so their first 48 bits are the write
    time and everything below this one is older than the retention period."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.EVENTS_RETENTION_DAYS)
    boundary = ULID.from_datetime(cutoff)
    return str(ULID.from_bytes(boundary.bytes[:6] + bytes(10))).lower()


def events_prune(*, now: datetime | None = None, batch_size: int = PRUNE_BATCH_SIZE) -> int:
    """Delete events written longer ago than ``EVENTS_RETENTION_DAYS``, oldest first, one
    transaction per batch (a killed run loses no work: the next one deletes the rest);
    returns how many went. Deleting by id walks the primary key, no other index needed."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1.")
    boundary = _prep("id", retention_boundary(now=now))
    deleted = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {TABLE} WHERE id IN "
                f"(SELECT id FROM {TABLE} WHERE id < %s ORDER BY id LIMIT %s)",
                [boundary, batch_size],
            )
            count = cursor.rowcount
        deleted += count
        if count < batch_size:
            return deleted


def field_changes(*, before: dict, after: dict) -> dict:
    """The ``changed`` of an ``*.updated`` event: ``{field: {"from": old, "to": new}}`` for
    each field whose value differs (the fields of ``after``)."""
    return {
        name: {"from": before.get(name), "to": value}
        for name, value in after.items()
        if before.get(name) != value
    }
