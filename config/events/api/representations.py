"""Events written out by hand in ``EventSerializer``'s shape, from rows (``values()``), for
webhooks: a worker renders every event it sends, and the serializer's per-field machinery cost
more than the request itself. ``EventSerializer`` stays the definition of the shape;
tests/events/test_representations.py holds both to the same bytes."""

from datetime import datetime, tzinfo
from typing import Any

from django.db import connection
from django.utils import timezone

from config.databases import ulid_column_in, values_from_rows
from config.events.models import Event
from config.events.services import COLUMNS

# The columns a representation reads: every column of an event but its transaction id.
EVENT_ROW_FIELDS = tuple(column for column in COLUMNS if column != "txid")
ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # ApiDateTimeField's, cut to milliseconds


def _iso_ms(value: datetime, zone: tzinfo) -> str:
    """``ApiDateTimeField``'s rendering without a request (ISO 8601, milliseconds, in the
    current time zone as DRF's ``enforce_timezone`` puts it)."""
    return value.astimezone(zone).strftime(ISO_FORMAT)[:-4] + "Z"


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def event_representation(row: dict[str, Any], zone: tzinfo | None = None) -> dict[str, Any]:
    """One event as ``GET /api/v1/events/{id}`` renders it (without ``X-Datetime-Format``);
    ``zone`` is the current time zone (looked up if not given)."""
    occurred_at = row["occurred_at"]
    zone = zone or timezone.get_current_timezone()
    return {
        "id": _text(row["id"]),
        "type": _text(row["type"]),
        "occurred_at": None if not occurred_at else _iso_ms(occurred_at, zone),
        "actor": {
            "type": row["actor_type"],
            "id": row["actor_id"] or None,
            "username": row["actor_username"],
        },
        "request_id": _text(row["request_id"]) or None,
        "change_set_id": _text(row["change_set_id"]),
        "customer_id": _text(row["customer_id"]),
        "subject_id": _text(row["subject_id"]),
        "data": row["data"],
    }


def events_rendered(ids: list[str]) -> dict[str, dict[str, Any]]:
    """The events of ``ids`` still in the log, rendered, by id: one fixed read, its values
    converted as the ORM's (building the ORM's query for a batch of ids took longer than
    running it)."""
    if not ids:
        return {}
    where, params = ulid_column_in(_quoted("id"), ids)
    columns = ", ".join(_quoted(name) for name in EVENT_ROW_FIELDS)
    table = connection.ops.quote_name(Event._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {table} WHERE {where}", params)
        rows = cursor.fetchall()
    zone = timezone.get_current_timezone()
    rendered = {}
    for values in values_from_rows(Event, EVENT_ROW_FIELDS, rows):
        row = dict(zip(EVENT_ROW_FIELDS, values, strict=True))
        rendered[row["id"]] = event_representation(row, zone)
    return rendered


def _quoted(name: str) -> str:
    return connection.ops.quote_name(Event._meta.get_field(name).column)
