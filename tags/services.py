"""Writes on tags and on the tags of customers; the API, the admin and the commands call these."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.concurrency import check_if_match
from config.exceptions import Conflict
from config.history import with_history
from tags.models import Tag, default_tag_metadata, tag_name_clean, tag_name_key

TAG_FIELDS = ("name", "reference_id", "description", "is_active", "metadata")


def tag_deleted_error(tag: Tag) -> Conflict:
    return Conflict(
        f"Tag '{tag.name}' is deleted; restore it first (POST /api/v1/customer_tags/{tag.id}/restore).",
        code="customer_tag_deleted",
    )


def _check_unique(*, name: str, reference_id: str | None, exclude: str | None = None) -> None:
    """409 when another tag holds the name (deleted or not) or the reference_id."""
    clash = Tag.objects.filter(name_key=tag_name_key(name)).exclude(pk=exclude).first()
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
    return Tag.objects.select_for_update().get(pk=tag.pk)


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
        locked = _locked(tag)
        if locked.is_deleted:
            raise tag_deleted_error(locked)
        check_if_match(locked, if_match)
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
        locked = _locked(tag)
        if locked.is_deleted:
            raise tag_deleted_error(locked)
        check_if_match(locked, if_match)
        locked.is_deleted = True
        locked.deleted_at = timezone.now()
        return _save(locked, actor=actor, reason=reason, create=False)


def tag_restore(*, tag: Tag, actor: AbstractBaseUser | None, reason: str = "") -> Tag:
    with transaction.atomic():
        locked = _locked(tag)
        if not locked.is_deleted:
            raise Conflict(f"Tag '{locked.name}' is not deleted.", code="customer_tag_not_deleted")
        locked.is_deleted = False
        locked.deleted_at = None
        return _save(locked, actor=actor, reason=reason, create=False)


def tag_hard_delete(*, tag: Tag, actor: AbstractBaseUser | None, reason: str = "") -> None:
    """Delete for good, with its assignments (admin only, own permission)."""
    with transaction.atomic():
        locked = _locked(tag)
        with_history(locked, actor=actor, reason=reason)
        locked.delete()
