"""Change-sets: the record of one bulk change, written as the change runs.

A bulk path (``customers_retag`` for the retag command and the API's bulk_tag) opens a
change-set once its request is known to be good (tags resolved), updates its counts and cursor
inside each batch's own transaction (so the record never runs ahead of or behind the rows),
and closes it as ``done`` or ``failed`` with one ``change_set.completed`` /
``change_set.failed`` event. Every history row and ``customer.tags_changed`` event the batches
write carries its id.
"""

import uuid
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from config.events.services import event_record
from config.exceptions import DomainError
from config.fields import StoredId, uuid_to_ulid
from tags.models import ChangeSet, default_change_set_counts
from tags.services.change import TagChange

COMPLETED = "change_set.completed"
FAILED = "change_set.failed"


@dataclass(frozen=True, kw_only=True)
class ChangeSetPlan:
    """What a bulk path records about its run before it starts: its kind, how the customers
    were chosen (``selection``: JSON, e.g. ``{"all": true}``) and, when known, how many."""

    kind: str
    selection: dict = field(default_factory=dict)
    total: int | None = None


def change_set_start(
    *, plan: ChangeSetPlan, change: TagChange, actor: AbstractBaseUser | None
) -> ChangeSet:
    """Record a bulk change as ``running``, in the caller's transaction (if any)."""
    return ChangeSet.objects.create(
        kind=plan.kind,
        state=ChangeSet.State.RUNNING,
        selection=plan.selection,
        add=list(change.add),
        remove=list(change.remove),
        reason=change.reason,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        total=plan.total,
        counts=default_change_set_counts(),
        started_at=timezone.now(),
    )


def cursor_of(customer_id: str) -> str:
    """A customer id as the cursor keeps it: a ULID, whatever form the batch held it in."""
    if isinstance(customer_id, StoredId):
        return uuid_to_ulid(uuid.UUID(customer_id))
    return str(customer_id)


def change_set_progress(
    *, change_set: ChangeSet, customers: int, added: int, removed: int, cursor: str
) -> None:
    """After a batch, in its transaction: the counts so far and the last customer done."""
    change_set.counts = {
        **change_set.counts,
        "customers": customers,
        "added": added,
        "removed": removed,
    }
    change_set.cursor = cursor_of(cursor)
    change_set.save(update_fields=["counts", "cursor", "updated_at"])


def _event_data(change_set: ChangeSet) -> dict:
    return {
        "kind": change_set.kind,
        "state": change_set.state,
        "add": change_set.add,
        "remove": change_set.remove,
        "counts": change_set.counts,
        "reason": change_set.reason,
    }


def change_set_finish(*, change_set: ChangeSet) -> ChangeSet:
    """Close a run that went through: ``done``, with one ``change_set.completed`` event."""
    with transaction.atomic():
        change_set.state = ChangeSet.State.DONE
        change_set.finished_at = timezone.now()
        change_set.save(update_fields=["state", "finished_at", "updated_at"])
        event_record(
            type=COMPLETED,
            subject_id=change_set.pk,
            change_set_id=change_set.pk,
            data=_event_data(change_set),
        )
    return change_set


def change_set_fail(*, change_set: ChangeSet, error: BaseException) -> ChangeSet:
    """Close a run stopped by an error after some batches may have committed: ``failed``,
    with what it did until then and one ``change_set.failed`` event. The message is the
    error's own for a refusal (a domain error); other errors are named by their type only."""
    message = str(error) if isinstance(error, DomainError) else type(error).__name__
    with transaction.atomic():
        # the counts of the batches that committed, not of the one that failed
        change_set.refresh_from_db(fields=["counts", "cursor"])
        change_set.state = ChangeSet.State.FAILED
        change_set.error = message
        change_set.finished_at = timezone.now()
        change_set.save(update_fields=["state", "error", "finished_at", "updated_at"])
        event_record(
            type=FAILED,
            subject_id=change_set.pk,
            change_set_id=change_set.pk,
            data={**_event_data(change_set), "error": message},
        )
    return change_set
