"""Many customers moved to one status label (the admin's "Change status…"), recorded as a
change-set of kind ``status``: in the request (``customers_status_change``) up to
``CHANGE_SET_SYNC_MAX`` customers, planned for the job engine above
(``customers_status_change_plan``, run by ``customers_status_change_run``).

It lives on the tags floor because the change-sets do: each customer still goes through
``customers.services.customer_status_change``, which writes the status change row and the
``customer.status_changed`` event, both carrying the change-set's id.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from config.exceptions import DomainError
from config.transactions import atomic_with_retries
from customers.models import Customer
from customers.services import customer_status_change, status_reason_check
from statuses.models import ADMIN_SOURCE, StatusLabel
from tags.models import ChangeSet
from tags.services.change_sets import (
    CONFLICTS_LISTED,
    change_set_background,
    change_set_fail,
    change_set_finish,
    change_set_next_batch,
    change_set_open,
    cursor_of,
)

REFUSALS_LISTED = 10  # refusals a foreground run reports back (the change-set keeps more)


@dataclass(kw_only=True)
class StatusBulkResult:
    """What a bulk status change did: customers moved, customers that already had the label,
    and the refused ones (counted; the first ``REFUSALS_LISTED`` as "customer: why", the
    first ``CONFLICTS_LISTED`` as the change-set keeps them in ``conflicts``)."""

    change_set: ChangeSet
    changed: int = 0
    unchanged: int = 0
    refused: int = 0
    refusals: list[str] = field(default_factory=list)
    conflicts: list[dict] = field(default_factory=list)


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
    label's name; ``counts.customers`` the customers processed (a customer deleted meanwhile
    is skipped), ``counts.added`` those moved, ``counts.conflicts`` those refused (a
    transition the label does not allow), who keep their label while the others move and are
    listed in ``conflicts`` (id and why); a customer that already has the label is the rest.
    One transaction a batch, the counts and cursor saved in it; the change-set ends ``done``
    with its ``change_set.completed`` event, or ``failed`` on an unexpected error (the
    batches before it stay). A blank reason is refused before anything is recorded."""
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
    rolls back alone), then the change-set's counts, its refused customers (the first
    ``CONFLICTS_LISTED``: id and why) and the cursor, the batch's last id whether or not
    that customer is still there. Counts on from ``before``, left as it was, so a batch
    retried after a deadlock starts again from it."""
    change_set = before.change_set
    after = StatusBulkResult(
        change_set=change_set,
        changed=before.changed,
        unchanged=before.unchanged,
        refused=before.refused,
        refusals=list(before.refusals),
        conflicts=list(before.conflicts),
    )
    for customer in Customer.objects.filter(pk__in=ids).order_by("pk"):
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
            if len(after.conflicts) < CONFLICTS_LISTED:
                after.conflicts.append(
                    {"customer_id": cursor_of(customer.pk), "reason": str(error)}
                )
            continue
        if done.change is None:
            after.unchanged += 1
        else:
            after.changed += 1
    change_set.counts = {
        **change_set.counts,
        "customers": after.changed + after.unchanged + after.refused,
        "added": after.changed,
        "conflicts": after.refused,
    }
    change_set.conflicts = after.conflicts
    if ids:
        change_set.cursor = cursor_of(ids[-1])
    change_set.save(update_fields=["counts", "conflicts", "cursor", "updated_at"])
    return after


# --- in the background: over CHANGE_SET_SYNC_MAX customers ---------------------------------


def customers_status_change_plan(
    *,
    customer_ids: Sequence,
    label: StatusLabel,
    reason: str,
    actor: AbstractBaseUser | None,
    selection: dict,
    source: str = ADMIN_SOURCE,
) -> ChangeSet:
    """Record a status change of many customers to run in the background (``planned``): the
    customers kept as ULIDs, sorted, for the run to walk behind its cursor, the label by id.
    A blank reason is refused here, before anything is recorded. The caller enqueues its
    job (``tags.services.bulk.customers_status_change_background`` does both)."""
    reason = status_reason_check(reason)
    return ChangeSet.objects.create(
        kind=ChangeSet.Kind.STATUS,  # planned: the model's default state
        selection=selection,
        add=[label.name],
        remove=[],
        reason=reason,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        total=len(customer_ids),
        customer_ids=sorted(cursor_of(i) for i in customer_ids),
        options={"background": True, "label_id": label.pk, "source": source},
    )


def customers_status_change_run(*, change_set_id: str, batch_size: int | None = None) -> str:
    """Run a planned background status change, or resume it from its cursor: batch by batch
    as in the request (a refused customer keeps its label, the others move), each batch one
    transaction with the change-set locked, so a killed worker leaves whole batches and a
    cancel stops it after the batch under way. ``failed`` if the label is gone. Returns the
    state it left."""
    size = batch_size or settings.CHANGE_SET_BATCH_SIZE

    def batches(change_set: ChangeSet) -> Callable[[], bool]:
        label = StatusLabel.objects.select_related("status").get(pk=change_set.options["label_id"])
        options = {
            "label": label,
            "reason": change_set.reason,
            "source": change_set.options["source"],
            "actor": change_set.created_by,
        }
        return lambda: _run_batch(change_set_id, size, options)

    return change_set_background(change_set_id, batches=batches)


def _run_batch(change_set_id: str, size: int, options: dict) -> bool:
    """One batch of a background run, with the change-set's row locked: the customers after
    the cursor, counted on from what the batches before saved. False once there is nothing
    left, or the run was cancelled."""
    batch = change_set_next_batch(change_set_id, size)
    if batch is None:
        return False
    change_set, ids = batch
    counts = change_set.counts
    before = StatusBulkResult(
        change_set=change_set,
        changed=counts["added"],
        unchanged=counts["customers"] - counts["added"] - counts["conflicts"],
        refused=counts["conflicts"],
        conflicts=change_set.conflicts,
    )
    _batch(ids, before, **options)
    return True
