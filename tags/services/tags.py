"""Writes on tags themselves: create, change, soft delete, restore, delete for good."""

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.concurrency import check_if_match, locked_for_write
from config.events.services import event_record, events_common, field_changes
from config.exceptions import Conflict
from config.history import with_history
from config.names import name_clean, name_key
from tags.assignments import ChangeEvents, assignments_tag_removal_events
from tags.events import tag_created_data, tag_fields, tag_snapshot
from tags.models import Tag, default_tag_metadata
from tags.rules import tag_deleted_error

TAG_FIELDS = ("name", "reference_id", "description", "is_active", "metadata")


def _check_unique(*, name: str, reference_id: str | None, exclude: str | None = None) -> None:
    """409 when another tag holds the name (deleted or not) or the reference_id."""
    clash = Tag.objects.filter(name_key=name_key(name)).exclude(pk=exclude).first()
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


def tag_write(
    tag: Tag,
    *,
    actor: AbstractBaseUser | None,
    reason: str,
    create: bool,
    on_saved: Callable[[Tag], object] | None = None,
) -> Tag:
    """Save the tag with its history row (who, why), then run ``on_saved`` (its event) in the
    same savepoint; a lost race on a unique name or reference_id is the same 409 as the check
    before it."""
    tag.reference_id = tag.reference_id or None
    tag.description = tag.description or ""
    tag.metadata = tag.metadata or default_tag_metadata()
    with_history(tag, actor=actor, reason=reason)
    try:
        with transaction.atomic():
            tag.save(force_insert=create)
            if on_saved is not None:
                on_saved(tag)
    except IntegrityError:
        # A concurrent write took the name or reference_id between our check and our INSERT.
        _check_unique(name=tag.name, reference_id=tag.reference_id, exclude=tag.pk)
        raise Conflict(
            "A tag with this name or reference_id already exists.", code="duplicate_name"
        ) from None
    return tag


def tag_create(*, data: dict[str, Any], actor: AbstractBaseUser | None, reason: str) -> Tag:
    """Create a tag, with its history row and a ``tag.created`` event."""
    tag = Tag(**{field: data[field] for field in TAG_FIELDS if field in data})
    tag.name = name_clean(tag.name)
    _check_unique(name=tag.name, reference_id=tag.reference_id)
    return tag_write(
        tag,
        actor=actor,
        reason=reason,
        create=True,
        on_saved=lambda saved: event_record(
            type="tag.created", subject_id=saved.pk, data=tag_created_data(saved, reason)
        ),
    )


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
            changes["name"] = name_clean(changes["name"])
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
        before = tag_fields(locked)
        for field, value in changes.items():
            setattr(locked, field, value)
        tag_write(locked, actor=actor, reason=reason, create=False)
        changed = field_changes(before=before, after=tag_fields(locked))
        event_record(
            type="tag.updated",
            subject_id=locked.pk,
            data={"changed": changed, "reason": reason or None},
        )
        return locked


def tag_soft_delete(
    *,
    tag: Tag,
    actor: AbstractBaseUser | None,
    reason: str,
    if_match: list[str] | None = None,
) -> Tag:
    """Hide the tag and, with it, its assignments; restoring brings every one of them back.
    One ``tag.deleted`` event (``permanent`` false) stands for all its customers."""
    with transaction.atomic():
        locked = _locked_live(tag, if_match)
        locked.is_deleted = True
        locked.deleted_at = timezone.now()
        tag_write(locked, actor=actor, reason=reason, create=False)
        event_record(
            type="tag.deleted",
            subject_id=locked.pk,
            data={"tag": tag_snapshot(locked), "permanent": False, "reason": reason or None},
        )
        return locked


def tag_restore(*, tag: Tag, actor: AbstractBaseUser | None, reason: str = "") -> Tag:
    with transaction.atomic():
        locked = _locked(tag)
        if not locked.is_deleted:
            raise Conflict(f"Tag '{locked.name}' is not deleted.", code="customer_tag_not_deleted")
        if locked.merged_into_id:
            raise tag_deleted_error(locked)
        locked.is_deleted = False
        locked.deleted_at = None
        tag_write(locked, actor=actor, reason=reason, create=False)
        event_record(
            type="tag.restored",
            subject_id=locked.pk,
            data={"tag": tag_snapshot(locked), "reason": reason or None},
        )
        return locked


def tag_hard_delete(*, tag: Tag, actor: AbstractBaseUser | None, reason: str = "") -> None:
    """Delete for good, with its assignments (admin only, own permission): a ``tag.deleted``
    event (``permanent`` true) and, when the tag was live, a ``customer.tags_changed`` event
    for each customer that held it, written before the rows go."""
    with transaction.atomic():
        locked = _locked(tag)
        now = timezone.now()
        common = events_common(occurred_at=now)
        event_record(
            type="tag.deleted",
            subject_id=locked.pk,
            data={"tag": tag_snapshot(locked), "permanent": True, "reason": reason or None},
            occurred_at=now,
        )
        if not locked.is_deleted:  # a soft-deleted tag's assignments are already hidden
            assignments_tag_removal_events(
                tag_id=locked.pk,
                events=ChangeEvents(names={locked.pk: locked.name}, reason=reason, common=common),
                now=now,
            )
        with_history(locked, actor=actor, reason=reason)
        locked.delete()
