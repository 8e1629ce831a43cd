"""Writes on tags and on the tags of customers; the API, the admin and the commands call these."""

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from config.concurrency import check_if_match, locked_for_write
from config.exceptions import Conflict, InvalidInput, PermissionDenied
from config.history import with_history
from config.transactions import atomic_with_retries
from customers.models import Customer
from tags.assignments import (
    assignments_add,
    assignments_delete_by_ids,
    assignments_history_record,
    assignments_move,
    assignments_remove,
    customers_lock,
    customers_near_limit,
    customers_over_limit,
)
from tags.models import (
    TAG_NAME_RE,
    Tag,
    TagAssignment,
    default_tag_metadata,
    tag_name_clean,
    tag_name_key,
)
from tags.selectors import tags_by_key

TAG_FIELDS = ("name", "reference_id", "description", "is_active", "metadata")
CREATE_PERMISSION = "tags.add_tag"


def tag_deleted_error(tag: Tag) -> Conflict:
    if tag.merged_into_id:
        return Conflict(
            f"Tag '{tag.name}' was merged into tag {tag.merged_into_id}; its name is an alias "
            "of that tag now: use it instead.",
            code="customer_tag_merged",
        )
    return Conflict(
        f"Tag '{tag.name}' is deleted; restore it first (POST /api/v1/customer_tags/{tag.id}/restore).",
        code="customer_tag_deleted",
    )


def _check_unique(*, name: str, reference_id: str | None, exclude: str | None = None) -> None:
    """409 when another tag holds the name (deleted or not) or the reference_id."""
    clash = Tag.objects.filter(name_key=tag_name_key(name)).exclude(pk=exclude).first()
    if clash is not None and clash.merged_into_id:
        raise Conflict(
            f"'{clash.name}' is an alias of tag {clash.merged_into_id} (merged into it).",
            code="duplicate_name",
            attr="name",
        )
    if clash is not None and clash.is_deleted:
        raise Conflict(
            f"A deleted tag named '{clash.name}' exists (id {clash.id}); restore it instead "
            "of creating a new one.",
            code="customer_tag_deleted",
            attr="name",
        )
    if clash is not None:
        raise Conflict(
            f"A tag named '{clash.name}' already exists (id {clash.id}).",
            code="duplicate_name",
            attr="name",
        )
    if reference_id and Tag.objects.filter(reference_id=reference_id).exclude(pk=exclude).exists():
        raise Conflict(
            "A tag with this reference_id already exists.", code="duplicate", attr="reference_id"
        )


def _save(tag: Tag, *, actor, reason: str, create: bool) -> Tag:
    tag.reference_id = tag.reference_id or None
    tag.description = tag.description or ""
    tag.metadata = tag.metadata or default_tag_metadata()
    with_history(tag, actor=actor, reason=reason)
    try:
        with transaction.atomic():
            tag.save(force_insert=create)
    except IntegrityError:
        # A concurrent write took the name or reference_id between our check and our INSERT.
        _check_unique(name=tag.name, reference_id=tag.reference_id, exclude=tag.pk)
        raise Conflict(
            "A tag with this name or reference_id already exists.", code="duplicate_name"
        ) from None
    return tag


def tag_create(*, data: dict[str, Any], actor: AbstractBaseUser | None, reason: str = "") -> Tag:
    tag = Tag(**{field: data[field] for field in TAG_FIELDS if field in data})
    tag.name = tag_name_clean(tag.name)
    _check_unique(name=tag.name, reference_id=tag.reference_id)
    return _save(tag, actor=actor, reason=reason, create=True)


def _locked(tag: Tag) -> Tag:
    return locked_for_write(Tag, tag.pk, no_key=False)  # 404 if deleted for good meanwhile


def _locked_live(tag: Tag, if_match: list[str] | None) -> Tag:
    """The tag's row, locked, refusing a deleted tag (409) or a stale If-Match (412)."""
    locked = _locked(tag)
    if locked.is_deleted:
        raise tag_deleted_error(locked)
    check_if_match(locked, if_match)
    return locked


def tag_update(
    *,
    tag: Tag,
    data: dict[str, Any],
    actor: AbstractBaseUser | None,
    reason: str = "",
    if_match: list[str] | None = None,
) -> Tag:
    """Change the given fields; a deleted tag must be restored first. No change, no history."""
    with transaction.atomic():
        locked = _locked_live(tag, if_match)
        changes = {
            field: value
            for field, value in data.items()
            if field in TAG_FIELDS and getattr(locked, field) != value
        }
        if "name" in changes:
            changes["name"] = tag_name_clean(changes["name"])
            if changes["name"] == locked.name:
                del changes["name"]
        if not changes:
            return locked
        if "name" in changes or changes.get("reference_id"):
            _check_unique(
                name=changes.get("name", locked.name),
                reference_id=changes.get("reference_id"),
                exclude=locked.pk,
            )
        for field, value in changes.items():
            setattr(locked, field, value)
        return _save(locked, actor=actor, reason=reason, create=False)


def tag_soft_delete(
    *,
    tag: Tag,
    actor: AbstractBaseUser | None,
    reason: str = "",
    if_match: list[str] | None = None,
) -> Tag:
    """Hide the tag and, with it, its assignments; restoring brings every one of them back."""
    with transaction.atomic():
        locked = _locked_live(tag, if_match)
        locked.is_deleted = True
        locked.deleted_at = timezone.now()
        return _save(locked, actor=actor, reason=reason, create=False)


def tag_restore(*, tag: Tag, actor: AbstractBaseUser | None, reason: str = "") -> Tag:
    with transaction.atomic():
        locked = _locked(tag)
        if not locked.is_deleted:
            raise Conflict(f"Tag '{locked.name}' is not deleted.", code="customer_tag_not_deleted")
        if locked.merged_into_id:
            raise tag_deleted_error(locked)
        locked.is_deleted = False
        locked.deleted_at = None
        return _save(locked, actor=actor, reason=reason, create=False)


def tag_hard_delete(*, tag: Tag, actor: AbstractBaseUser | None, reason: str = "") -> None:
    """Delete for good, with its assignments (admin only, own permission)."""
    with transaction.atomic():
        locked = _locked(tag)
        with_history(locked, actor=actor, reason=reason)
        locked.delete()


# --- tagging customers ----------------------------------------------------------------------


@dataclass
class TagChange:
    """What one tagging call did: real changes, no-ops as warnings, and the resulting tags."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    current_tags: list[str] = field(default_factory=list)
    current_tag_names_by_id: dict[str, str] = field(default_factory=dict)
    at: datetime | None = None


def _check_names(names: list[str], attr: str) -> list[str]:
    limit = settings.MAX_TAG_NAMES_PER_REQUEST
    if len(names) > limit:
        raise InvalidInput(
            f"At most {limit} tag names per list; got {len(names)}.", code="max_length", attr=attr
        )
    for name in names:
        if not isinstance(name, str) or not TAG_NAME_RE.match(name) or not tag_name_clean(name):
            raise InvalidInput(
                f"'{name}' is not a valid tag name (1–100 characters of A–Z, a–z, 0–9, '-', '_' and spaces).",
                code="invalid",
                attr=attr,
            )
    return list(dict.fromkeys(names))


def tags_resolve(
    *,
    add: list[str],
    remove: list[str],
    create_missing: bool,
    actor: AbstractBaseUser | None,
    reason: str = "",
    dry_run: bool = False,
    check_permissions: bool = True,
) -> tuple[dict[str, Tag], dict[str, Tag], list[str], list[str]]:
    """Map requested names to tags (case-insensitively), creating missing ones to add (on a
    dry run they come back unsaved, with no id).

    Returns (tags to add by key, tags to remove by key, warnings, names of the tags created
    or, on a dry run, to be created). Deleted tags → 409; inactive
    tags to add, unknown names to add without ``create_missing``, or a name in both lists → 400;
    names that would be created when ``actor`` lacks ``tags.add_tag`` → 403 (creating a tag is
    the tag's own permission, not the tagging one). ``check_permissions=False`` is for
    operators' commands, where ``actor`` only names whom the history is for.
    """
    add = _check_names(add, "tags_to_add")
    remove = _check_names(remove, "tags_to_remove")
    add_keys = {tag_name_key(n): n for n in add}
    remove_keys = {tag_name_key(n): n for n in remove}
    if both := [add_keys[k] for k in add_keys if k in remove_keys]:
        raise InvalidInput(
            f"Tag(s) in both tags_to_add and tags_to_remove: {', '.join(both)}.",
            code="in_both_lists",
            attr="tags_to_remove",
        )
    found = tags_by_key([*add_keys, *remove_keys])
    missing = [name for key, name in add_keys.items() if key not in found]
    if missing and not create_missing:
        raise InvalidInput(
            f"Unknown tag(s): {', '.join(missing)} (create_missing is false).",
            code="unknown_tags",
            attr="tags_to_add",
        )

    def refuse_unusable() -> None:
        for key in [*add_keys, *remove_keys]:
            if key in found and found[key].is_deleted:
                raise tag_deleted_error(found[key])
        if inactive := [found[k].name for k in add_keys if k in found and not found[k].is_active]:
            raise InvalidInput(
                f"Inactive tag(s) cannot be assigned: {', '.join(inactive)}.",
                code="tag_inactive",
                attr="tags_to_add",
            )
        adding = {found[k].pk for k in add_keys if k in found}
        if both := [remove_keys[k] for k in remove_keys if k in found and found[k].pk in adding]:
            raise InvalidInput(
                f"Tag(s) in both tags_to_add and tags_to_remove (under another name): "
                f"{', '.join(both)}.",
                code="in_both_lists",
                attr="tags_to_remove",
            )

    refuse_unusable()  # before creating anything, so a refused request creates no tag
    if missing and not dry_run and check_permissions:
        _check_may_create(actor, missing)
    if missing and dry_run:
        found.update(
            {
                tag_name_key(n): Tag(id=None, name=tag_name_clean(n), name_key=tag_name_key(n))
                for n in missing
            }
        )
    elif missing:
        found.update(
            {t.name_key: t for t in _tags_create_missing(missing, actor=actor, reason=reason)}
        )
        refuse_unusable()  # a concurrent creator may have made one of them first
    warnings = [f"'{remove_keys[k]}' is not a tag" for k in remove_keys if k not in found]
    return (
        {k: found[k] for k in add_keys},
        {k: found[k] for k in remove_keys if k in found},
        warnings,
        [found[tag_name_key(n)].name for n in missing],
    )


def _check_may_create(actor: AbstractBaseUser | None, names: list[str]) -> None:
    """403 naming ``tags.add_tag`` unless ``actor`` may create tags (None: the system)."""
    if actor is None or actor.has_perm(CREATE_PERMISSION):
        return
    raise PermissionDenied(
        f"Creating the tag(s) {', '.join(names)} needs the permission {CREATE_PERMISSION}; "
        "create them first or ask for that permission (create_missing: false refuses unknown "
        "names instead).",
        attr="tags_to_add",
    )


def _tags_create_missing(names: list[str], *, actor, reason: str) -> list[Tag]:
    """Create tags in bulk with their history; a concurrent creator of the same name wins."""
    tags = [Tag(name=tag_name_clean(n), name_key=tag_name_key(n)) for n in names]
    user = actor if getattr(actor, "is_authenticated", False) else None
    try:
        with transaction.atomic():
            return bulk_create_with_history(
                tags,
                Tag,
                default_user=user,
                default_change_reason=reason or "created while tagging",
            )
    except IntegrityError:
        return list(Tag.objects.filter(name_key__in=[t.name_key for t in tags]))


def _assignments_apply(
    *,
    customer_ids: Sequence,
    add_tags: list[Tag],
    remove_tags: list[Tag],
    actor,
    reason: str,
    source: str,
    category: str,
    expires_at: datetime | None,
    now: datetime,
):
    """Remove, then add, for every customer × tag, with history; returns (added, removed)."""
    user_id = actor.pk if getattr(actor, "is_authenticated", False) else None
    removed = assignments_remove(
        customer_ids=customer_ids,
        tag_ids=[t.pk for t in remove_tags],
        user_id=user_id,
        reason=reason,
        now=now,
    )
    added = assignments_add(
        customer_ids=customer_ids,
        tag_ids=[t.pk for t in add_tags],
        category=category,
        source=source,
        expires_at=expires_at,
        user_id=user_id,
        reason=reason,
        now=now,
    )
    return added, removed


def customer_tags_change(
    *,
    customer: Customer,
    add: list[str] = (),
    remove: list[str] = (),
    actor: AbstractBaseUser | None,
    reason: str = "",
    source: str = "api",
    category: str = "",
    expires_at: datetime | None = None,
    create_missing: bool = True,
) -> TagChange:
    """Add and remove tags on one customer in one transaction.

    Safe under concurrency: assignments are rows inserted with ON CONFLICT and deleted by key
    after the customer's row is locked, so two callers never lose each other's tags, and
    what each reports as added/removed is what its own statements changed.
    """

    def change():
        add_tags, remove_tags, warnings, _ = tags_resolve(
            add=list(add),
            remove=list(remove),
            create_missing=create_missing,
            actor=actor,
            reason=reason,
        )
        customers_lock([customer.pk])
        now = timezone.now()
        added, removed = _assignments_apply(
            customer_ids=[customer.pk],
            add_tags=list(add_tags.values()),
            remove_tags=list(remove_tags.values()),
            actor=actor,
            reason=reason,
            source=source,
            category=category,
            expires_at=expires_at,
            now=now,
        )
        current_by_id = dict(
            TagAssignment.objects.current(now)
            .filter(customer_id=customer.pk)
            .order_by("tag__name")
            .values_list("tag_id", "tag__name")
        )
        if len(current_by_id) > settings.MAX_TAGS_PER_CUSTOMER:
            raise InvalidInput(
                f"A customer can hold at most {settings.MAX_TAGS_PER_CUSTOMER} tags; this change "
                f"would give it {len(current_by_id)}.",
                code="too_many_tags",
                attr="tags_to_add",
            )
        return add_tags, remove_tags, warnings, added, removed, current_by_id, now

    add_tags, remove_tags, warnings, added, removed, current_by_id, now = atomic_with_retries(
        change
    )
    current = list(current_by_id.values())
    by_id = {t.pk: t.name for t in [*add_tags.values(), *remove_tags.values()]}
    added_ids, removed_ids = set(added.by_tag), set(removed.by_tag)
    warnings += [
        f"'{t.name}' was already on the customer"
        for t in add_tags.values()
        if t.pk not in added_ids
    ]
    warnings += [
        f"'{t.name}' was not on the customer"
        for t in remove_tags.values()
        if t.pk not in removed_ids
    ]
    return TagChange(
        added=sorted(by_id[i] for i in added_ids),
        removed=sorted(by_id[i] for i in removed_ids),
        warnings=warnings,
        current_tags=current,
        current_tag_names_by_id=current_by_id,
        at=now,
    )


@dataclass
class RetagResult:
    """What a bulk change did (or, on a dry run, would do): counts per tag name."""

    matched: int = 0
    added: Counter = field(default_factory=Counter)
    removed: Counter = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    created_tags: list[str] = field(default_factory=list)
    batches: int = 0
    dry_run: bool = False

    @property
    def tags_added(self) -> int:
        return sum(self.added.values())

    @property
    def tags_removed(self) -> int:
        return sum(self.removed.values())


def customers_retag(
    *,
    batches: Iterable[Sequence],
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
    actor: AbstractBaseUser | None,
    reason: str = "",
    source: str = "bulk",
    category: str = "",
    expires_at: datetime | None = None,
    create_missing: bool = True,
    dry_run: bool = False,
    all_or_nothing: bool = False,
    on_batch: Callable[[RetagResult, int], None] | None = None,
    check_permissions: bool = True,
) -> RetagResult:
    """Apply one add/remove change to many customers, batch by batch.

    Each batch of customer ids is one transaction (retried if PostgreSQL picks it as a
    deadlock victim) of a few set-based statements that write the assignments and their
    history rows (with ``actor`` and ``reason``) together, so an interrupted run leaves whole
    batches behind and running it again finishes the job: existing assignments are skipped,
    only real changes are recorded. A dry run counts what would change and writes nothing.
    The tags are resolved (and missing ones created) once, before the first batch. With
    ``all_or_nothing`` the whole run is one transaction (the API's bulk_tag, the admin's
    actions); otherwise each batch commits on its own (the retag command). Creating missing
    tags needs ``actor`` to hold ``tags.add_tag`` unless ``check_permissions`` is false (the
    command: an operator with a shell, ``actor`` only names whom the history is for).
    """
    with transaction.atomic() if all_or_nothing else nullcontext():
        return _retag(
            batches, add=add, remove=remove, actor=actor, reason=reason, source=source,
            category=category, expires_at=expires_at, create_missing=create_missing,
            dry_run=dry_run, on_batch=on_batch, check_permissions=check_permissions,
        )  # fmt: skip


def _retag(batches, *, add, remove, actor, reason, source, category, expires_at,
           create_missing, dry_run, on_batch, check_permissions) -> RetagResult:  # fmt: skip
    add_tags, remove_tags, warnings, created = tags_resolve(
        add=list(add),
        remove=list(remove),
        create_missing=create_missing,
        actor=actor,
        reason=reason,
        dry_run=dry_run,
        check_permissions=check_permissions,
    )
    result = RetagResult(warnings=warnings, dry_run=dry_run, created_tags=created)
    names = {t.pk or t.name: t.name for t in [*add_tags.values(), *remove_tags.values()]}
    for batch in batches:
        ids = sorted(batch)
        if not ids:
            continue

        def apply(ids=ids):
            if dry_run:
                return _retag_count(ids, list(add_tags.values()), list(remove_tags.values()))
            limit = settings.MAX_TAGS_PER_CUSTOMER
            near = customers_near_limit(customer_ids=ids, adding=len(add_tags), limit=limit)
            now = timezone.now()
            added, removed = _assignments_apply(
                customer_ids=ids,
                add_tags=list(add_tags.values()),
                remove_tags=list(remove_tags.values()),
                actor=actor,
                reason=reason,
                source=source,
                category=category,
                expires_at=expires_at,
                now=now,
            )
            if added.total and (near is None or near):
                _check_tag_limit(ids if near is None else near, now=now)
            return added, removed

        added, removed = atomic_with_retries(apply)
        result.added.update({names[t]: n for t, n in added.by_tag.items()})
        result.removed.update({names[t]: n for t, n in removed.by_tag.items()})
        result.matched += len(ids)
        result.batches += 1
        if on_batch is not None:
            on_batch(result, len(ids))
    return result


def _retag_count(ids: list, add_tags: list[Tag], remove_tags: list[Tag]):
    """(would add, would remove) per tag id for one batch, read-only."""
    from tags.assignments import Changed

    now = timezone.now()
    held = Counter(
        dict(
            TagAssignment.objects.unexpired(now)
            .filter(
                customer_id__in=ids, tag_id__in=[t.pk for t in [*add_tags, *remove_tags] if t.pk]
            )
            .values_list("tag_id")
            .annotate(n=Count("*"))
            .order_by()
        )
    )
    added = Changed(by_tag=Counter({t.pk: len(ids) - held[t.pk] for t in add_tags if t.pk}))
    added.by_tag.update({t.name: len(ids) for t in add_tags if not t.pk})
    removed = Changed(by_tag=Counter({t.pk: held[t.pk] for t in remove_tags}))
    return added, removed


def _check_tag_limit(customer_ids: Sequence, *, now: datetime) -> None:
    """400 (rolling the change back) if any of these customers now holds too many tags."""
    limit = settings.MAX_TAGS_PER_CUSTOMER
    if over := customers_over_limit(customer_ids=customer_ids, limit=limit, now=now):
        raise InvalidInput(
            f"A customer can hold at most {limit} tags; this change would exceed it for "
            f"{', '.join(over)}.",
            code="too_many_tags",
            attr="tags_to_add",
        )


@dataclass
class TagMerge:
    """What a merge did (or, as a preview, would do)."""

    into: Tag
    sources: list[Tag]
    moved: int = 0
    already_held: int = 0
    removed: int = 0
    segments: list[str] = field(default_factory=list)


def _merge_sources(sources: list[Tag], into: Tag) -> list[Tag]:
    """The sources still to merge. Refuses a deleted target, a deleted source (unless already
    merged into this target: nothing left to do) and merging a tag into itself."""
    if into.is_deleted:
        raise tag_deleted_error(into)
    todo = []
    for tag in sources:
        if tag.pk == into.pk:
            raise InvalidInput(
                f"Cannot merge '{tag.name}' into itself.", code="invalid", attr="sources"
            )
        if tag.merged_into_id == into.pk:
            continue
        if tag.is_deleted:
            raise tag_deleted_error(tag)
        todo.append(tag)
    return todo


def _segments_naming(tag_ids: list[str]):
    from segments.models import Segment

    return Segment.objects.filter(
        Q(tags_all__in=tag_ids) | Q(tags_any__in=tag_ids) | Q(tags_none__in=tag_ids)
    ).distinct()


def tags_merge_preview(*, sources: list[Tag], into: Tag) -> TagMerge:
    """What ``tags_merge`` would do, counted by the database without writing (the admin's
    confirmation page, ``merge_tags --dry-run``)."""
    plan = TagMerge(into=into, sources=_merge_sources(sources, into))
    ids = [t.pk for t in plan.sources]
    if not ids:
        return plan
    of_sources = TagAssignment.objects.filter(tag_id__in=ids)
    holders = TagAssignment.objects.filter(tag_id=into.pk).values("customer_id")
    plan.removed = of_sources.count()
    plan.moved = (
        of_sources.exclude(customer_id__in=holders).values("customer_id").distinct().count()
    )
    plan.already_held = plan.removed - plan.moved
    plan.segments = sorted(_segments_naming(ids).values_list("name", flat=True))
    return plan


def tags_merge(
    *, sources: list[Tag], into: Tag, actor: AbstractBaseUser | None, reason: str = ""
) -> TagMerge:
    """Merge tags into one, in one transaction: move the assignments (a customer holding both
    keeps one), rewrite segment rules to the target, soft-delete the sources and keep each
    source's name as an alias of the target, so old names still resolve in requests and rules.

    Running it again after it finished changes nothing.
    """
    from segments.services import segment_save

    with transaction.atomic():
        locked = {
            t.pk: t
            for t in Tag.objects.select_for_update()
            .filter(pk__in=[into.pk, *(t.pk for t in sources)])
            .order_by("pk")
        }
        into = locked[into.pk]
        plan = TagMerge(into=into, sources=_merge_sources([locked[t.pk] for t in sources], into))
        if not plan.sources:
            return plan
        names = ", ".join(f"'{t.name}'" for t in plan.sources)
        why = reason or f"merged {names} into '{into.name}'"
        user_id = actor.pk if getattr(actor, "is_authenticated", False) else None
        now = timezone.now()
        moved = removed = 0
        for tag in plan.sources:
            added, taken = assignments_move(
                from_tag_id=tag.pk, to_tag_id=into.pk, user_id=user_id, reason=why, now=now
            )
            moved, removed = moved + added, removed + taken
        source_ids = [t.pk for t in plan.sources]
        source_names = {t.name for t in plan.sources}
        segments = list(
            _segments_naming(source_ids).prefetch_related(
                "tags_all", "tags_any", "tags_none", "status_labels"
            )
        )
        for segment in segments:
            rule = segment.rule
            for key in ("all", "any", "none"):
                renamed = [into.name if n in source_names else n for n in rule[key]]
                rule[key] = list(dict.fromkeys(renamed))
            segment_save(segment=segment, data={"rule": rule}, actor=actor, reason=why)
        Tag.objects.filter(merged_into_id__in=source_ids).update(merged_into=into)
        for tag in plan.sources:
            tag.is_deleted, tag.deleted_at, tag.merged_into = True, now, into
            _save(tag, actor=actor, reason=why, create=False)
        _save(into, actor=actor, reason=why, create=False)
        plan.moved, plan.removed = moved, removed
        plan.already_held = removed - moved
        plan.segments = sorted(segment.name for segment in segments)
    return plan


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
