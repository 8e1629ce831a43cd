"""Expiry: assignments whose time has passed are deleted, each with an "expired" history row."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from tags.assignments import assignments_delete_by_ids, assignments_history_record
from tags.models import TagAssignment


def tags_expire(
    *, actor: AbstractBaseUser | None = None, now: datetime | None = None, batch_size: int = 5000
) -> int:
    """Delete expired assignments with history, batch by batch; returns how many went."""
    now = now or timezone.now()
    user_id = actor.pk if getattr(actor, "is_authenticated", False) else None
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                TagAssignment.objects.expired(now)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if not ids:
                return total
            rows = assignments_delete_by_ids(ids=ids)
            assignments_history_record(
                rows_by_type={"-": rows}, user_id=user_id, reason="expired", at=now
            )
            total += len(rows)
