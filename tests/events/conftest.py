import time

from django.db import connection, transaction

from config.events.fields import FeedHorizon
from config.events.models import Event
from config.events.services import EventDraft, events_record_many

WAIT_SECONDS = 60


def wait_until_served() -> None:
    """PostgreSQL: wait until every committed event is below the feed's horizon. The horizon is
    the oldest transaction in flight anywhere on the server (transaction ids are shared by its
    databases), so another client's transaction can hold it back for a moment."""
    if connection.vendor != "postgresql":
        return
    horizon = FeedHorizon(Event._meta.get_field("txid"))
    deadline = time.monotonic() + WAIT_SECONDS
    while Event.objects.filter(txid__gte=horizon).exists():
        assert time.monotonic() < deadline, "a transaction held the feed back for a minute"
        time.sleep(0.05)


def commit_events(*drafts: EventDraft, **common) -> list[Event]:
    """Write events in a transaction of their own (committed in a transactional test), and
    wait until the feed serves them; returns them in feed order."""
    with transaction.atomic():
        events_record_many(events=drafts, **common)
    wait_until_served()
    return list(Event.objects.in_feed_order())
