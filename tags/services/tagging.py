"""Tagging customers: one customer's change, and the write and the limit every change shares."""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from config.events.services import events_common
from config.exceptions import InvalidInput
from config.transactions import atomic_with_retries
from customers.models import Customer
from tags.assignments import (
    ChangeEvents,
    assignments_change,
    customers_lock,
    customers_over_limit,
)
from tags.selectors import AssignmentCounts, customer_current_tag_names
from tags.services.change import TagChange
from tags.services.names import ResolvedTags, tags_resolve


@dataclass(frozen=True, kw_only=True)
class TagChangeResult:
    """What one customer's change did: real changes, no-ops as warnings, the resulting tags."""

    added: list[str]
    removed: list[str]
    warnings: list[str]
    current_tags: list[str]
    current_tag_names_by_id: dict[str, str]
    at: datetime


def customers_tag_limit_check(*, customer_ids: Sequence, now: datetime) -> None:
    """The limit of ``MAX_TAGS_PER_CUSTOMER`` current tags, checked after a change that added
    tags, inside its transaction: 400 ``too_many_tags`` (rolling the change back) naming the
    customers it would take past the limit. One rule for one customer and for many."""
    limit = settings.MAX_TAGS_PER_CUSTOMER
    if over := customers_over_limit(customer_ids=customer_ids, limit=limit, now=now):
        raise _too_many_tags(over)


def _too_many_tags(customer_ids: Sequence[str]) -> InvalidInput:
    return InvalidInput(
        f"A customer can hold at most {settings.MAX_TAGS_PER_CUSTOMER} tags; this change would "
        f"exceed it for {', '.join(customer_ids)}.",
        code="too_many_tags",
        attr="tags_to_add",
    )


def assignments_apply(
    *,
    customer_ids: Sequence,
    tags: ResolvedTags,
    change: TagChange,
    actor: AbstractBaseUser | None,
    now: datetime,
    change_set_id: str | None = None,
) -> AssignmentCounts:
    """Remove, then add (so swapping tags at the limit works), for every customer × tag, with
    history rows naming ``actor`` and the change's reason and one ``customer.tags_changed``
    event per customer really changed (none for the others), all in the caller's
    transaction; returns what really changed. The history rows and events of a bulk change
    carry its ``change_set_id``."""
    user_id = actor.pk if getattr(actor, "is_authenticated", False) else None
    named = [*tags.add.values(), *tags.remove.values()]
    added, removed = assignments_change(
        customer_ids=customer_ids,
        add_tag_ids=[t.pk for t in tags.add.values()],
        remove_tag_ids=[t.pk for t in tags.remove.values()],
        category=change.category,
        source=change.source,
        expires_at=change.expires_at,
        user_id=user_id,
        reason=change.reason,
        now=now,
        events=ChangeEvents(
            names={t.pk: t.name for t in named},
            reason=change.reason,
            common=events_common(occurred_at=now, change_set_id=change_set_id),
        ),
        change_set_id=change_set_id,
    )
    return AssignmentCounts(added=added.by_tag, removed=removed.by_tag)


@dataclass(frozen=True, kw_only=True)
class _Applied:
    tags: ResolvedTags
    counts: AssignmentCounts
    current_by_id: dict[str, str]
    at: datetime


def customer_tags_change(
    *, customer: Customer, change: TagChange, actor: AbstractBaseUser | None
) -> TagChangeResult:
    """Add and remove tags on one customer in one transaction.

    Safe under concurrency: assignments are rows inserted with ON CONFLICT and deleted by key
    after the customer's row is locked, so two callers never lose each other's tags, and
    what each reports as added/removed is what its own statements changed.
    """
    change = replace(change, source=change.source or "api")

    def apply() -> _Applied:
        tags = tags_resolve(change=change, actor=actor)
        customers_lock([customer.pk])
        now = timezone.now()
        counts = assignments_apply(
            customer_ids=[customer.pk], tags=tags, change=change, actor=actor, now=now
        )
        current_by_id = customer_current_tag_names(customer_id=customer.pk, now=now)
        # The limit, checked on the current tags the answer reads anyway (the rule of
        # customers_tag_limit_check, for one customer, without a count of its own).
        if counts.added.total() and len(current_by_id) > settings.MAX_TAGS_PER_CUSTOMER:
            raise _too_many_tags([customer.pk])
        return _Applied(tags=tags, counts=counts, current_by_id=current_by_id, at=now)

    done = atomic_with_retries(apply)
    add_tags, remove_tags = done.tags.add.values(), done.tags.remove.values()
    by_id = {t.pk: t.name for t in [*add_tags, *remove_tags]}
    return TagChangeResult(
        added=sorted(by_id[i] for i in done.counts.added),
        removed=sorted(by_id[i] for i in done.counts.removed),
        warnings=[
            *done.tags.warnings,
            *(
                f"'{t.name}' was already on the customer"
                for t in add_tags
                if t.pk not in done.counts.added
            ),
            *(
                f"'{t.name}' was not on the customer"
                for t in remove_tags
                if t.pk not in done.counts.removed
            ),
        ],
        current_tags=list(done.current_by_id.values()),
        current_tag_names_by_id=done.current_by_id,
        at=done.at,
    )
