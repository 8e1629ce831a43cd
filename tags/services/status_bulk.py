"""Many customers moved to one status label (the admin's "Change status…"), recorded as a
change-set of kind ``status``.

It lives on the tags floor because the change-sets do: each customer still goes through
``customers.services.customer_status_change``, which writes the status change row and the
``customer.status_changed`` event, both carrying the change-set's id.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser

from config.exceptions import DomainError
from config.transactions import atomic_with_retries
from customers.models import Customer
from customers.services import customer_status_change, status_reason_check
from statuses.models import ADMIN_SOURCE, StatusLabel
from tags.models import ChangeSet
from tags.services.change_sets import change_set_fail, change_set_finish, change_set_open

REFUSALS_LISTED = 10


@dataclass(kw_only=True)
class StatusBulkResult:
    """What a bulk status change did: customers moved, customers that already had the label,
    and the refused ones (counted; the first ``REFUSALS_LISTED`` as "customer: why")."""

    change_set: ChangeSet
    changed: int = 0
    unchanged: int = 0
    refused: int = 0
    refusals: list[str] = field(default_factory=list)


def customers_status_change(
    *,
    batches: Iterable[Sequence],
    label: StatusLabel,
    reason: str,
    actor: AbstractBaseUser | None,
    selection: dict,
    total: int | None = None,
    source: str = ADMIN_SOURCE,
) -> StatusBulkResult:
    """Move every customer of ``batches`` (ids, in id order) to ``label``, each through the
    single-customer service, recorded as one change-set of kind ``status``: ``add`` is the
    label's name; ``counts.customers`` the customers moved, ``counts.conflicts`` the
    customers refused (a transition the label does not allow, a customer deleted meanwhile),
    who keep their label while the others move; a customer that already has the label is
    neither (``total`` minus both). One transaction a batch, the counts and cursor saved in
    it; the change-set ends ``done`` with its ``change_set.completed`` event, or ``failed``
    on an unexpected error (the batches before it stay). A blank reason is refused before
    anything is recorded."""
    reason = status_reason_check(reason)  # before anything is recorded
    change_set = change_set_open(
        kind=ChangeSet.Kind.STATUS,
        selection=selection,
        add=[label.name],
        remove=[],
        reason=reason,
        actor=actor,
        total=total,
    )
    result = StatusBulkResult(change_set=change_set)
    try:
        for ids in batches:
            result = atomic_with_retries(
                lambda ids=ids, before=result: _batch(
                    ids, before, label=label, reason=reason, source=source, actor=actor
                )
            )
    except Exception as error:
        change_set_fail(change_set=change_set, error=error)
        raise
    change_set_finish(change_set=change_set)
    return result


def _batch(
    ids: Sequence, before: StatusBulkResult, *, label, reason, source, actor
) -> StatusBulkResult:
    """One batch, in the caller's transaction: each customer in a savepoint (a refused one
    rolls back alone), then the change-set's counts and cursor. Counts on from ``before``,
    left as it was, so a batch retried after a deadlock starts again from it."""
    change_set = before.change_set
    after = StatusBulkResult(
        change_set=change_set,
        changed=before.changed,
        unchanged=before.unchanged,
        refused=before.refused,
        refusals=list(before.refusals),
    )
    last = None
    for customer in Customer.objects.filter(pk__in=ids).order_by("pk"):
        last = customer.pk
        try:
            done = customer_status_change(
                customer=customer,
                label=label,
                reason=reason,
                source=source,
                actor=actor,
                change_set_id=change_set.pk,
            )
        except DomainError as error:
            after.refused += 1
            if len(after.refusals) < REFUSALS_LISTED:
                after.refusals.append(f"{customer}: {error}")
            continue
        if done.change is None:
            after.unchanged += 1
        else:
            after.changed += 1
    change_set.counts = {
        **change_set.counts,
        "customers": after.changed,
        "conflicts": after.refused,
    }
    if last is not None:
        change_set.cursor = str(last)
    change_set.save(update_fields=["counts", "cursor", "updated_at"])
    return after
