"""Change-sets: the record of one bulk change, written as the change runs.

A tag merge (``tags.services.merge``) and the admin's status change
(``tags.services.status_bulk``) open theirs with ``change_set_open``; a retag (below) with
``change_set_start``.

A bulk path (``customers_retag`` for the retag command and the API's bulk_tag) opens a
change-set once its request is known to be good (tags resolved), updates its counts and cursor
inside each batch's own transaction (so the record never runs ahead of or behind the rows),
and closes it as ``done`` or ``failed`` with one ``change_set.completed`` /
``change_set.failed`` event. Every history row and ``customer.tags_changed`` event the batches
write carries its id.
"""

import uuid
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Exists, Min, OuterRef
from django.utils import timezone

from config.events.services import event_record, events_common
from config.exceptions import Conflict, DomainError
from config.fields import StoredId, uuid_to_ulid
from config.transactions import atomic_with_retries
from tags.assignments import ChangeEvents, assignments_revert
from tags.models import ChangeSet, Tag, TagAssignment, default_change_set_counts
from tags.services.change import TagChange

COMPLETED = "change_set.completed"
FAILED = "change_set.failed"
REVERTED = "change_set.reverted"
REVERT_BATCH_SIZE = 10_000  # history rows of the original per transaction
CONFLICTS_LISTED = 100
REVERTIBLE = (ChangeSet.State.DONE, ChangeSet.State.FAILED, ChangeSet.State.CANCELLED)
TAG_KINDS = (ChangeSet.Kind.RETAG, ChangeSet.Kind.BULK_TAG, ChangeSet.Kind.REVERT)
History = TagAssignment.history.model


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
    """Record a bulk tag change as ``running``, in the caller's transaction (if any)."""
    return change_set_open(
        kind=plan.kind,
        selection=plan.selection,
        add=list(change.add),
        remove=list(change.remove),
        reason=change.reason,
        actor=actor,
        total=plan.total,
    )


def change_set_open(
    *,
    kind: str,
    selection: dict,
    add: list[str],
    remove: list[str],
    reason: str,
    actor: AbstractBaseUser | None,
    total: int | None = None,
) -> ChangeSet:
    """Record a bulk change that is not a tag change (a merge, a status change) as
    ``running``, in the caller's transaction (if any): ``add``/``remove`` are names (the
    merge's target and sources, the status change's label)."""
    return ChangeSet.objects.create(
        kind=kind,
        state=ChangeSet.State.RUNNING,
        selection=selection,
        add=add,
        remove=remove,
        reason=reason,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        total=total,
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


def _revert_refusal(change_set: ChangeSet, now) -> Conflict | None:
    """Why ``change_set`` cannot be reverted now, or None."""
    if change_set.kind not in TAG_KINDS:
        return Conflict(
            f"A {change_set.kind} change-set cannot be reverted.", code="not_revertible"
        )
    if change_set.state == ChangeSet.State.REVERTED:
        return Conflict(
            f"Change-set {change_set.pk} has been reverted already.", code="not_revertible"
        )
    if change_set.state not in REVERTIBLE:
        return Conflict(
            f"Change-set {change_set.pk} is {change_set.state}: only a done, failed or "
            "cancelled change-set can be reverted.",
            code="not_revertible",
        )
    days = settings.CHANGE_SET_RETENTION_DAYS
    if (change_set.finished_at or change_set.created_at) < now - timedelta(days=days):
        return Conflict(
            f"Change-set {change_set.pk} finished more than {days} days ago "
            "(CHANGE_SET_RETENTION_DAYS): it can no longer be reverted.",
            code="revert_window_closed",
        )
    return None


def _revert_open(
    *, change_set: ChangeSet, actor: AbstractBaseUser | None, reason: str, background: bool
) -> ChangeSet:
    """Check and record the revert, the original locked meanwhile: a change-set is reverted
    once (a second revert, even a concurrent one, is refused). ``running`` for the caller to
    run now; ``planned``, for the job engine, when ``background`` and it touches more than
    ``CHANGE_SET_SYNC_MAX`` customers."""
    with transaction.atomic():
        original = ChangeSet.objects.select_for_update().get(pk=change_set.pk)
        if refusal := _revert_refusal(original, timezone.now()):
            raise refusal
        if ChangeSet.objects.filter(reverts=original).exists():
            raise Conflict(
                f"Change-set {original.pk} has been reverted already.", code="not_revertible"
            )
        total = (
            History.objects.filter(change_set_id=original.pk)
            .values("customer_id")
            .distinct()
            .count()
        )
        later = background and total > settings.CHANGE_SET_SYNC_MAX
        try:
            with transaction.atomic():
                revert = ChangeSet.objects.create(
                    kind=ChangeSet.Kind.REVERT,
                    state=ChangeSet.State.PLANNED if later else ChangeSet.State.RUNNING,
                    selection={"change_set": original.pk},
                    add=original.remove,
                    remove=original.add,
                    reason=reason or f"revert of {original.pk}",
                    created_by=actor if getattr(actor, "is_authenticated", False) else None,
                    total=total,
                    reverts=original,
                    options={"background": True} if later else {},
                    started_at=None if later else timezone.now(),
                )
        except IntegrityError:
            raise Conflict(
                f"Change-set {original.pk} has been reverted already.", code="not_revertible"
            ) from None
        return revert


def _conflicts(*, original: ChangeSet, revert: ChangeSet, low: int, high: int, names, limit):
    """Up to ``limit`` of the original's pairs (history rows ``low``–``high``) the revert
    left alone: changed again since."""
    undone = History.objects.filter(
        change_set_id=revert.pk, customer_id=OuterRef("customer_id"), tag_id=OuterRef("tag_id")
    )
    rows = (
        History.objects.filter(change_set_id=original.pk, history_id__gte=low, history_id__lte=high)
        .exclude(Exists(undone))
        .order_by("history_id")
        .values_list("customer_id", "tag_id", "history_type")[:limit]
    )
    return [
        {
            "customer_id": customer_id,
            "tag_id": tag_id,
            "tag": names.get(tag_id, ""),
            "change": "added" if kind == "+" else "removed",
        }
        for customer_id, tag_id, kind in rows
    ]


@dataclass(frozen=True, kw_only=True)
class _RevertContext:
    """What every batch of a revert needs, read once per run."""

    original: ChangeSet
    names: dict
    user_id: int | None
    batch_size: int
    start: int  # the history id just before the original's first row


def _revert_context(revert: ChangeSet, batch_size: int) -> _RevertContext:
    """Once per run (a resumed one too): the original, its tags' names for the events, and
    the revert's author, whom its history rows name."""
    original = revert.reverts
    # the tags it touched, and where its history rows begin: walking from 0 instead, the
    # first batch read every older history row in the table
    first_ids = dict(
        History.objects.filter(change_set_id=original.pk)
        .order_by()
        .values("tag_id")
        .annotate(first=Min("history_id"))
        .values_list("tag_id", "first")
    )
    return _RevertContext(
        original=original,
        names=dict(Tag.objects.filter(pk__in=set(first_ids)).values_list("pk", "name")),
        user_id=revert.created_by_id,
        batch_size=batch_size,
        start=min(first_ids.values(), default=1) - 1,
    )


def _revert_batch(revert_id: str, context: _RevertContext) -> bool:
    """One batch of a revert, in the caller's transaction with the revert's row locked: the
    original's history rows after the cursor (the last history id done) undone, the counts,
    conflicts and new cursor saved with them. Read from the locked row, so a retried batch,
    a resumed run or a second runner racing starts after the batches committed and none is
    done twice (twice would turn its rows into false conflicts). False once there is nothing
    left, or the revert is no longer running (cancelled)."""
    revert = ChangeSet.objects.select_for_update().get(pk=revert_id)
    if revert.state != ChangeSet.State.RUNNING:
        return False
    original = context.original
    rows = list(
        History.objects.filter(
            change_set_id=original.pk, history_id__gt=int(revert.cursor or context.start)
        )
        .order_by("history_id")
        .values_list("history_id", "customer_id")[: context.batch_size]
    )
    if not rows:
        return False
    first, high = rows[0][0], rows[-1][0]
    now = timezone.now()
    added, removed = assignments_revert(
        change_set_id=original.pk,
        low=first,
        high=high,
        user_id=context.user_id,
        reason=revert.reason,
        now=now,
        revert_id=revert.pk,
        events=ChangeEvents(
            names=context.names,
            reason=revert.reason,
            common=events_common(occurred_at=now, change_set_id=revert.pk),
        ),
    )
    conflicts = len(rows) - added - removed
    listed = revert.conflicts
    if conflicts and len(listed) < CONFLICTS_LISTED:
        revert.conflicts = [
            *listed,
            *_conflicts(
                original=original,
                revert=revert,
                low=first,
                high=high,
                names=context.names,
                limit=CONFLICTS_LISTED - len(listed),
            ),
        ]
    before = {**default_change_set_counts(), **revert.counts}
    revert.counts = {
        **before,
        "customers": before["customers"] + len({c for _, c in rows}),
        "added": before["added"] + added,
        "removed": before["removed"] + removed,
        "conflicts": before["conflicts"] + conflicts,
    }
    revert.cursor = str(high)
    revert.save(update_fields=["counts", "conflicts", "cursor", "updated_at"])
    return True


def _revert_finish(revert_id: str) -> ChangeSet:
    """Close a revert whose batches are all done, if it is still running (not cancelled, not
    closed by a runner racing this one): ``done`` with ``change_set.completed``, the original
    ``reverted`` with one ``change_set.reverted`` event."""
    with transaction.atomic():
        revert = ChangeSet.objects.select_for_update().get(pk=revert_id)
        if revert.state != ChangeSet.State.RUNNING:
            return revert
        original = revert.reverts
        change_set_finish(change_set=revert)
        original.state = ChangeSet.State.REVERTED
        original.save(update_fields=["state", "updated_at"])
        event_record(
            type=REVERTED,
            subject_id=original.pk,
            change_set_id=revert.pk,
            data={**_event_data(original), "reverted_by": revert.pk, "counts": revert.counts},
        )
    return revert


def change_set_revert(
    *,
    change_set: ChangeSet,
    actor: AbstractBaseUser | None,
    reason: str = "",
    batch_size: int = REVERT_BATCH_SIZE,
    background: bool = False,
) -> ChangeSet:
    """Undo what ``change_set`` changed, per customer and tag, as a new change-set of kind
    ``revert``: only where the state is still what it left (an assignment it added and
    nobody removed or re-added since is taken off; one it removed comes back, with its
    category, source, expiry and assigner, unless the customer holds that tag again). The
    rest are conflicts: counted, the first ones listed, not overwritten. Batch by batch
    (one transaction each) over the original's history rows; the original becomes
    ``reverted``, with one ``change_set.reverted`` event beside the revert's own
    ``change_set.completed``. Refused (409) for a change-set still running, already
    reverted, or finished longer ago than ``CHANGE_SET_RETENTION_DAYS``.

    With ``background``, a revert of more than ``CHANGE_SET_SYNC_MAX`` customers is returned
    ``planned`` instead, for the job engine to run (``change_set_revert_run``): the API and
    the admin ask through ``bulk.change_set_revert_request``, which enqueues its job."""
    revert = _revert_open(change_set=change_set, actor=actor, reason=reason, background=background)
    if revert.state == ChangeSet.State.PLANNED:
        return revert
    context = _revert_context(revert, batch_size)
    try:
        while atomic_with_retries(lambda: _revert_batch(revert.pk, context)):
            pass
    except Exception as error:
        change_set_fail(change_set=revert, error=error)
        raise
    return _revert_finish(revert.pk)


def change_set_revert_run(*, change_set_id: str, batch_size: int | None = None) -> str:
    """Run a planned background revert, or resume a running one from its cursor (a worker
    that died, a second runner racing: each batch locks the revert, so none is done twice).
    The state is checked before each batch, so a cancel stops it after the batch under way.
    Ends as ``change_set_revert`` does, or ``failed`` with ``change_set.failed``; returns the
    state it left."""

    def batches(revert: ChangeSet) -> Callable[[], bool]:
        context = _revert_context(revert, batch_size or REVERT_BATCH_SIZE)
        return lambda: _revert_batch(change_set_id, context)

    return change_set_background(change_set_id, batches=batches, finish=_revert_finish)


def change_set_next_batch(change_set_id: str, size: int) -> tuple[ChangeSet, list[str]] | None:
    """For one batch of a background run over kept ids, in the caller's transaction: the
    change-set locked and the next ``size`` ids after its cursor (the ids are sorted, so found
    by bisection: scanning them all every batch grew with the square of the selection), or
    None once nothing is left or the run is no longer running (cancelled)."""
    change_set = ChangeSet.objects.select_for_update().get(pk=change_set_id)
    if change_set.state != ChangeSet.State.RUNNING:
        return None
    start = bisect_right(change_set.customer_ids, change_set.cursor)
    ids = change_set.customer_ids[start : start + size]
    return (change_set, ids) if ids else None


def change_set_background(
    change_set_id: str,
    *,
    batches: Callable[[ChangeSet], Callable[[], bool]],
    finish: Callable[[str], ChangeSet] | None = None,
) -> str:
    """Drive a background run of any kind: ``planned`` becomes ``running``; ``batches`` (given
    the change-set, once per run) returns the step that does one batch (in its own
    transaction, retried on a deadlock, with the change-set locked: False once nothing is
    left or it is no longer running); the run ends ``done`` (through ``finish``, if the kind
    has more to close), or ``failed`` with ``change_set.failed`` on an error, unless a
    cancel came first. A change-set that is gone or already final is left as it is. Returns
    the state it left."""
    now = timezone.now()
    ChangeSet.objects.filter(pk=change_set_id, state=ChangeSet.State.PLANNED).update(
        state=ChangeSet.State.RUNNING, started_at=now, updated_at=now
    )
    change_set = ChangeSet.objects.filter(pk=change_set_id).first()
    if change_set is None or change_set.state != ChangeSet.State.RUNNING:
        return change_set.state if change_set else ""
    try:
        step = batches(change_set)
        while atomic_with_retries(step):
            pass
    except Exception as error:
        change_set.refresh_from_db()
        if change_set.state == ChangeSet.State.RUNNING:
            change_set_fail(change_set=change_set, error=error)
        return change_set.state
    return (finish or _finish_running)(change_set_id).state


def _finish_running(change_set_id: str) -> ChangeSet:
    """Close a run whose batches are all done, if nothing (a cancel) closed it meanwhile."""
    with transaction.atomic():
        change_set = ChangeSet.objects.select_for_update().get(pk=change_set_id)
        if change_set.state == ChangeSet.State.RUNNING:
            change_set_finish(change_set=change_set)
    return change_set


def change_set_cancel(*, change_set: ChangeSet) -> ChangeSet:
    """Stop a background run: ``cancelled`` at once; the batch under way (its own
    transaction, with the change-set locked) finishes, and no other starts. What it did
    stays, and can be reverted. 409 ``not_cancellable`` for one that is not planned or
    running in the background (a command's run stops with its process)."""
    with transaction.atomic():
        locked = ChangeSet.objects.select_for_update().get(pk=change_set.pk)
        if not locked.options.get("background"):
            raise Conflict(
                f"Change-set {locked.pk} does not run in the background: only a background "
                "run can be cancelled.",
                code="not_cancellable",
            )
        if locked.state not in (ChangeSet.State.PLANNED, ChangeSet.State.RUNNING):
            raise Conflict(
                f"Change-set {locked.pk} is {locked.state}: only a planned or running "
                "change-set can be cancelled.",
                code="not_cancellable",
            )
        locked.state = ChangeSet.State.CANCELLED
        locked.finished_at = timezone.now()
        locked.save(update_fields=["state", "finished_at", "updated_at"])
    return locked


def change_sets_stale(*, now=None) -> list[str]:
    """Background change-sets planned or running with no progress for
    ``CHANGE_SET_STALE_SECONDS``: their job was lost (a killed worker), to be run again."""
    since = (now or timezone.now()) - timedelta(seconds=settings.CHANGE_SET_STALE_SECONDS)
    return list(
        ChangeSet.objects.filter(
            state__in=[ChangeSet.State.PLANNED, ChangeSet.State.RUNNING],
            options__background=True,
            updated_at__lt=since,
        ).values_list("pk", flat=True)
    )
