"""One change for many customers, batch by batch: the retag command, bulk_tag, the admin."""

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from config.jobs import job
from config.transactions import atomic_with_retries
from tags.assignments import customers_near_limit
from tags.models import ChangeSet
from tags.selectors import (
    AssignmentCounts,
    ChangePreview,
    assignments_change_count,
    customers_change_preview,
)
from tags.services.change import TagChange
from tags.services.change_sets import (
    ChangeSetPlan,
    change_set_background,
    change_set_fail,
    change_set_finish,
    change_set_next_batch,
    change_set_progress,
    change_set_revert,
    change_set_revert_run,
    change_set_start,
    change_sets_stale,
    cursor_of,
)
from tags.services.names import ResolvedTags, tags_may_create_check, tags_resolve
from tags.services.status_bulk import customers_status_change_plan, customers_status_change_run
from tags.services.tagging import assignments_apply, customers_tag_limit_check

BACKGROUND = "background"  # the options key of a change-set that runs on the job engine
PREVIEW_SAMPLE = 20  # customers a preview names (the selector's sample size)


@dataclass
class RetagResult:
    """What a bulk change did (or, on a dry run, would do): counts per tag name, growing batch
    by batch (``on_batch`` sees it after each one)."""

    matched: int = 0
    added: Counter = field(default_factory=Counter)
    removed: Counter = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    created_tags: list[str] = field(default_factory=list)
    batches: int = 0
    dry_run: bool = False
    change_set: ChangeSet | None = None

    @property
    def tags_added(self) -> int:
        return sum(self.added.values())

    @property
    def tags_removed(self) -> int:
        return sum(self.removed.values())


def customers_retag(
    *,
    batches: Iterable[Sequence],
    change: TagChange,
    actor: AbstractBaseUser | None,
    dry_run: bool = False,
    all_or_nothing: bool = False,
    on_batch: Callable[[RetagResult, int], None] | None = None,
    check_permissions: bool = True,
    plan: ChangeSetPlan | None = None,
) -> RetagResult:
    """Apply one change to many customers, batch by batch.

    Each batch of customer ids is one transaction (retried if PostgreSQL picks it as a
    deadlock victim) of a few set-based statements that write the assignments and their
    history rows (with ``actor`` and the change's reason) together, so an interrupted run
    leaves whole batches behind and running it again finishes the job: existing assignments
    are skipped, only real changes are recorded. A dry run counts what would change and writes
    nothing. The tags are resolved (and missing ones created) once, before the first batch.
    With ``all_or_nothing`` the whole run is one transaction (the API's bulk_tag, the admin's
    actions); otherwise each batch commits on its own (the retag command). Creating missing
    tags needs ``actor`` to hold ``tags.add_tag`` unless ``check_permissions`` is false (the
    command: an operator with a shell, ``actor`` only names whom the history is for).

    With ``plan`` (and not a dry run) the run is recorded as a change-set (``result.
    change_set``), opened once the tags are resolved, its counts and cursor written in each
    batch's transaction, closed ``done`` or, when an error stops a run whose batches commit
    one by one, ``failed``; its history rows and events carry its id. An all-or-nothing run
    that fails leaves no change-set: nothing of it happened.
    """
    change = replace(change, source=change.source or "bulk")
    with transaction.atomic() if all_or_nothing else nullcontext():
        tags = tags_resolve(
            change=change, actor=actor, dry_run=dry_run, check_permissions=check_permissions
        )
        result = RetagResult(
            warnings=list(tags.warnings), dry_run=dry_run, created_tags=list(tags.created)
        )
        names = {t.pk or t.name: t.name for t in [*tags.add.values(), *tags.remove.values()]}
        change_set = None
        if plan is not None and not dry_run:
            change_set = change_set_start(plan=plan, change=change, actor=actor)
        result.change_set = change_set

        def run(ids: list) -> AssignmentCounts:
            counts = _batch_apply(
                ids, tags=tags, change=change, actor=actor, dry_run=dry_run, change_set=change_set
            )
            if change_set is not None:
                change_set_progress(
                    change_set=change_set,
                    customers=result.matched + len(ids),
                    added=result.tags_added + counts.added.total(),
                    removed=result.tags_removed + counts.removed.total(),
                    cursor=ids[-1],
                )
            return counts

        try:
            for batch in batches:
                ids = sorted(batch)
                if not ids:
                    continue
                counts = atomic_with_retries(lambda ids=ids: run(ids))
                result.added.update({names[t]: n for t, n in counts.added.items()})
                result.removed.update({names[t]: n for t, n in counts.removed.items()})
                result.matched += len(ids)
                result.batches += 1
                if on_batch is not None:
                    on_batch(result, len(ids))
        except Exception as error:
            if change_set is not None and not all_or_nothing:
                change_set_fail(change_set=change_set, error=error)
            raise
        if change_set is not None:
            change_set_finish(change_set=change_set)
        return result


@dataclass(frozen=True, kw_only=True)
class RetagPreview:
    """A bulk change's preview: per tag name, how many customers would gain and lose it;
    how many it would take past the tag limit; the tags it would create; warnings; a sample
    of the customers it would change."""

    matched: int
    changed: int
    gain: dict[str, int]
    lose: dict[str, int]
    over_limit: int
    created_tags: list[str]
    warnings: list[str]
    sample: list[str]


def customers_retag_preview(
    *,
    customer_ids: Sequence,
    change: TagChange,
    actor: AbstractBaseUser | None,
    check_permissions: bool = True,
) -> RetagPreview:
    """What ``customers_retag`` would do to these customers, writing nothing: refused as the
    change itself would be (unknown, deleted or inactive tags; tags ``actor`` may not
    create), else counted per tag and per customer (``customers_change_preview``)."""
    tags = tags_resolve(change=change, actor=actor, dry_run=True)
    if tags.created and check_permissions:
        tags_may_create_check(actor=actor, names=list(tags.created))
    add, remove = list(tags.add.values()), list(tags.remove.values())
    preview: ChangePreview = customers_change_preview(
        customer_ids=customer_ids,
        add=add,
        remove=remove,
        now=timezone.now(),
        limit=settings.MAX_TAGS_PER_CUSTOMER,
    )
    return RetagPreview(
        matched=len(customer_ids),
        changed=preview.changed,
        gain={t.name: preview.gain[t.pk or t.name] for t in add},
        lose={t.name: preview.lose[t.pk] for t in remove},
        over_limit=preview.over_limit,
        created_tags=list(tags.created),
        warnings=list(tags.warnings),
        sample=list(preview.sample),
    )


def customers_retag_preview_batches(
    *,
    batches: Iterable[Sequence],
    change: TagChange,
    actor: AbstractBaseUser | None,
) -> RetagPreview:
    """``customers_retag_preview`` over a selection of any size (the admin's select-across),
    batch by batch, so memory holds one batch of ids: the figures summed, the tags to create
    and the warnings of the first batch (the same for every batch), the sample its first
    ones. Refused as the change itself would be, writing nothing."""
    total: RetagPreview | None = None
    for batch in batches:
        # as ULIDs: the preview matches the ids it is given against those the ORM reads
        ids = [cursor_of(i) for i in batch]
        part = customers_retag_preview(customer_ids=ids, change=change, actor=actor)
        if total is None:
            total = part
            continue
        total = replace(
            total,
            matched=total.matched + part.matched,
            changed=total.changed + part.changed,
            gain={name: n + part.gain[name] for name, n in total.gain.items()},
            lose={name: n + part.lose[name] for name, n in total.lose.items()},
            over_limit=total.over_limit + part.over_limit,
            sample=(total.sample + part.sample)[:PREVIEW_SAMPLE],
        )
    if total is None:  # nobody selected: the tags are still checked
        total = customers_retag_preview(customer_ids=[], change=change, actor=actor)
    return total


def _batch_apply(
    ids: list,
    *,
    tags: ResolvedTags,
    change: TagChange,
    actor: AbstractBaseUser | None,
    dry_run: bool,
    change_set: ChangeSet | None = None,
) -> AssignmentCounts:
    """One batch's change (or, on a dry run, its count), checking the limit for the customers
    the add could take past it: on PostgreSQL those found near it before the write."""
    now = timezone.now()
    if dry_run:
        return assignments_change_count(
            customer_ids=ids,
            add=list(tags.add.values()),
            remove=list(tags.remove.values()),
            now=now,
        )
    near = customers_near_limit(
        customer_ids=ids, adding=len(tags.add), limit=settings.MAX_TAGS_PER_CUSTOMER
    )
    counts = assignments_apply(
        customer_ids=ids,
        tags=tags,
        change=change,
        actor=actor,
        now=now,
        change_set_id=change_set.pk if change_set is not None else None,
    )
    if counts.added.total() and (near is None or near):
        customers_tag_limit_check(customer_ids=ids if near is None else near, now=now)
    return counts


# --- background runs: bulk_tag (and reverts) over CHANGE_SET_SYNC_MAX customers ---------------


def change_set_plan(
    *,
    customer_ids: Sequence[str],
    change: TagChange,
    actor: AbstractBaseUser | None,
    selection: dict,
    kind: str = ChangeSet.Kind.BULK_TAG,
) -> tuple[ChangeSet, list[str]]:
    """Record a bulk change to run in the background (``planned``), once its request is
    known to be good: tags resolved as the run will resolve them, missing ones created now
    (with ``actor``'s permission), so a refused request is refused here, before any job.
    The customers are kept (as ULIDs, whichever form they came in: the admin hands the stored
    form), sorted: the run walks them batch by batch behind its cursor. The
    job is enqueued once the caller's transaction commits. Returns it with the warnings of
    the request (names to remove that are no tag)."""
    change = replace(change, source=change.source or "bulk")
    tags = tags_resolve(change=change, actor=actor)
    change_set = ChangeSet.objects.create(
        kind=kind,  # planned: the model's default state
        selection=selection,
        add=list(change.add),
        remove=list(change.remove),
        reason=change.reason,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        total=len(customer_ids),
        customer_ids=sorted(cursor_of(i) for i in customer_ids),
        options={
            BACKGROUND: True,
            "category": change.category,
            "source": change.source,
            "expires_at": change.expires_at.isoformat() if change.expires_at else None,
            "create_missing": change.create_missing,
        },
    )
    transaction.on_commit(lambda: run_change_set.enqueue(change_set.pk))
    return change_set, list(tags.warnings)


def _planned_change(change_set: ChangeSet) -> TagChange:
    options = change_set.options  # every key written by change_set_plan
    expires_at = options["expires_at"]
    return TagChange(
        add=tuple(change_set.add),
        remove=tuple(change_set.remove),
        create_missing=options["create_missing"],
        source=options["source"],
        category=options["category"],
        expires_at=parse_datetime(expires_at) if expires_at else None,
        reason=change_set.reason,
    )


def _run_batch(
    change_set_id: str,
    *,
    tags: ResolvedTags,
    change: TagChange,
    actor: AbstractBaseUser | None,
    batch_size: int,
) -> bool:
    """One batch of a background run, in its own transaction with the change-set's row
    locked: the customers after the cursor, their change, the counts and the new cursor
    together, so a killed worker leaves whole batches and the next run starts after them.
    False once there is nothing left, or the run was cancelled."""
    batch = change_set_next_batch(change_set_id, batch_size)
    if batch is None:
        return False
    change_set, ids = batch
    counts = _batch_apply(
        ids, tags=tags, change=change, actor=actor, dry_run=False, change_set=change_set
    )
    done = change_set.counts  # default_change_set_counts() at least
    change_set_progress(
        change_set=change_set,
        customers=done["customers"] + len(ids),
        added=done["added"] + counts.added.total(),
        removed=done["removed"] + counts.removed.total(),
        cursor=ids[-1],
    )
    return True


def change_set_run(*, change_set_id: str, batch_size: int | None = None) -> str:
    """Run a planned background change-set, or resume a running one from its cursor (a
    worker that died, a second run racing the first: batches lock the change-set, so none is
    done twice). Each batch is one transaction; the state is checked before each, so a
    cancel stops the run after the batch under way. Ends ``done`` with
    ``change_set.completed``, or ``failed`` with ``change_set.failed`` when a batch is
    refused (a customer past the tag limit) or breaks; returns the state it left. A
    background revert is run by ``change_set_revert_run`` (``batch_size`` then counts the
    original's history rows), a status change by ``customers_status_change_run``."""
    kind = ChangeSet.objects.filter(pk=change_set_id).values_list("kind", flat=True).first()
    if kind == ChangeSet.Kind.REVERT:
        return change_set_revert_run(change_set_id=change_set_id, batch_size=batch_size)
    if kind == ChangeSet.Kind.STATUS:
        return customers_status_change_run(change_set_id=change_set_id, batch_size=batch_size)
    batch_size = batch_size or settings.CHANGE_SET_BATCH_SIZE

    def batches(change_set: ChangeSet) -> Callable[[], bool]:
        change = _planned_change(change_set)
        actor = change_set.created_by
        tags = tags_resolve(change=change, actor=actor, check_permissions=False)
        return lambda: _run_batch(
            change_set_id, tags=tags, change=change, actor=actor, batch_size=batch_size
        )

    return change_set_background(change_set_id, batches=batches)


def change_set_revert_request(
    *, change_set: ChangeSet, actor: AbstractBaseUser | None, reason: str = ""
) -> ChangeSet:
    """A revert asked from the API or the admin, where work longer than a request runs on
    the job engine: over ``CHANGE_SET_SYNC_MAX`` customers it is returned ``planned`` and
    its job enqueued once the caller's transaction commits; otherwise it runs now."""
    revert = change_set_revert(change_set=change_set, actor=actor, reason=reason, background=True)
    if revert.state == ChangeSet.State.PLANNED:
        transaction.on_commit(lambda: run_change_set.enqueue(revert.pk))
    return revert


def customers_status_change_background(**plan) -> ChangeSet:
    """The admin's status change over ``CHANGE_SET_SYNC_MAX`` customers: planned (the
    arguments of ``customers_status_change_plan``), its job enqueued once the caller's
    transaction commits."""
    change_set = customers_status_change_plan(**plan)
    transaction.on_commit(lambda: run_change_set.enqueue(change_set.pk))
    return change_set


@job
def run_change_set(change_set_id: str) -> str:
    """Run (or resume) one background change-set, a revert too; returns the state it left."""
    return change_set_run(change_set_id=change_set_id)


@job
def resume_change_sets() -> int:
    """Periodic: run again the background change-sets whose job was lost (no progress for
    CHANGE_SET_STALE_SECONDS); each resumes from its cursor. Returns how many."""
    stale = change_sets_stale()
    for change_set_id in stale:
        run_change_set.enqueue(change_set_id)
    return len(stale)
