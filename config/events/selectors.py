"""Reads of the event log: the change feed and its positions."""

from django.db import connection
from django.db.models import F, Q
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan

from config.events.fields import FeedHorizon
from config.events.models import Event, EventQuerySet
from config.fields import parse_ulid

Position = tuple[int, str]  # (txid, id): the feed's order


def event_feed() -> EventQuerySet:
    """The events a reader may be served now, in feed order.

    PostgreSQL: only events whose transaction is older than the oldest one still in flight
    (``FeedHorizon``); a transaction that commits later cannot add an event before them, so
    a reader following the feed never skips one. SQLite: every committed event (one writer at
    a time makes commit order the feed order)."""
    events = Event.objects.all()
    if connection.vendor == "postgresql":
        events = events.filter(txid__lt=FeedHorizon(Event._meta.get_field("txid")))
    return events.in_feed_order()


def event_position(*, event_id: str) -> Position | None:
    """Where an event stands in the feed, ``None`` if there is no such event (any more)."""
    ulid = parse_ulid(event_id)
    if ulid is None:
        return None
    found = Event.objects.filter(pk=ulid).values_list("txid", "id").first()
    return (found[0], found[1]) if found else None


def events_after(events: EventQuerySet, position: Position) -> EventQuerySet:
    """The events after ``position`` in feed order (a row comparison the (txid, id) index
    answers)."""
    return events.filter(TupleGreaterThan(Tuple(F("txid"), F("id")), position))


def events_before(events: EventQuerySet, position: Position) -> EventQuerySet:
    """The events before ``position`` in feed order."""
    return events.filter(TupleLessThan(Tuple(F("txid"), F("id")), position))


def type_condition(patterns: list[str]) -> Q:
    """Events of any of the types; ``customer.*`` matches every ``customer.`` type."""
    condition = Q()
    for pattern in patterns:
        if pattern.endswith(".*"):
            condition |= Q(type__startswith=pattern[:-1])
        else:
            condition |= Q(type=pattern)
    return condition
