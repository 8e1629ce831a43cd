"""Expiry: assignments whose time has passed are deleted, each with an "expired" history row."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from config.events.services import events_common
from tags.assignments import (
    ChangeEvents,
    assignments_delete_by_ids,
    assignments_events_from_history,
    assignments_history_record,
)
from tags.models import Tag, TagAssignment

REASON = "expired"


def _batch(now: datetime, batch_size: int) -> list[int]:
    """Ids of the next expired assignments, whole customers at a time (so each customer's
    expiry is one event): the last customer of a full batch waits for the next one, unless
    it is the only one."""
    rows = list(
        TagAssignment.objects.expired(now)
        .order_by("customer_id", "pk")
        .values_list("pk", "customer_id")[:batch_size]
    )
    if len(rows) == batch_size and rows[0][1] != rows[-1][1]:
        last = rows[-1][1]
        rows = [row for row in rows if row[1] != last]
    return [pk for pk, _ in rows]


def tags_expire(
    *, actor: AbstractBaseUser | None = None, now: datetime | None = None, batch_size: int = 5000
) -> int:
    """Delete expired assignments with history, batch by batch (one transaction each), with
    one ``customer.tags_changed`` event per customer (its expired tags removed, reason
    "expired"); returns how many assignments went."""
    now = now or timezone.now()
    user_id = actor.pk if getattr(actor, "is_authenticated", False) else None
    total = 0
    while True:
        with transaction.atomic():
            ids = _batch(now, batch_size)
            if not ids:
                return total
            rows = assignments_delete_by_ids(ids=ids)
            history_ids = assignments_history_record(
                rows_by_type={"-": rows}, user_id=user_id, reason=REASON, at=now
            )
            names = dict(
                Tag.objects.filter(pk__in={row.tag_id for row in rows}).values_list("pk", "name")
            )
            assignments_events_from_history(
                history_ids=history_ids,
                events=ChangeEvents(
                    names=names, reason=REASON, common=events_common(occurred_at=now)
                ),
            )
            total += len(rows)
