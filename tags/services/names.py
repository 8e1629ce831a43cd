"""From the names a request gives to tags: checked, matched case-insensitively (aliases
included), and the missing ones created when the request and the actor allow it."""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from simple_history.utils import bulk_create_with_history

from config.events.services import EventDraft, events_record_many
from config.exceptions import InvalidInput, PermissionDenied
from config.names import name_clean, name_key
from tags.events import tag_created_data
from tags.models import TAG_NAME_RULE, Tag, tag_name_is_valid
from tags.rules import tag_deleted_error
from tags.selectors import tags_by_key
from tags.services.change import TagChange

CREATE_PERMISSION = "tags.add_tag"


@dataclass(frozen=True, kw_only=True)
class ResolvedTags:
    """The tags a change names, by name key; what it cannot do is a warning, not an error."""

    add: dict[str, Tag]
    remove: dict[str, Tag]
    warnings: tuple[str, ...] = ()
    # names of the tags created (on a dry run: that would be created)
    created: tuple[str, ...] = ()


def _names_check(names: tuple[str, ...], attr: str) -> list[str]:
    """The names, deduplicated in order; too many, or one that is not a valid tag name → 400."""
    limit = settings.MAX_TAG_NAMES_PER_REQUEST
    if len(names) > limit:
        raise InvalidInput(
            f"At most {limit} tag names per list; got {len(names)}.", code="max_length", attr=attr
        )
    for name in names:
        if not tag_name_is_valid(name):
            raise InvalidInput(
                f"'{name}' is not a valid tag name ({TAG_NAME_RULE}).", code="invalid", attr=attr
            )
    return list(dict.fromkeys(names))


def tags_may_create_check(*, actor: AbstractBaseUser | None, names: list[str]) -> None:
    """403 naming ``tags.add_tag`` unless ``actor`` may create tags (None: the system).
    Creating a tag is the tag's own permission, not the tagging one."""
    if actor is None or actor.has_perm(CREATE_PERMISSION):
        return
    raise PermissionDenied(
        f"Creating the tag(s) {', '.join(names)} needs the permission {CREATE_PERMISSION}; "
        "create them first or ask for that permission (create_missing: false refuses unknown "
        "names instead).",
        attr="tags_to_add",
    )


def _tags_create_missing(
    names: list[str], *, actor: AbstractBaseUser | None, reason: str
) -> list[Tag]:
    """Create tags in bulk with their history and a ``tag.created`` event each (one statement
    for all); a concurrent creator of the same name wins (and records the events)."""
    tags = [Tag(name=name_clean(n), name_key=name_key(n)) for n in names]
    user = actor if getattr(actor, "is_authenticated", False) else None
    why = reason or "created while tagging"
    try:
        with transaction.atomic():
            created = bulk_create_with_history(
                tags, Tag, default_user=user, default_change_reason=why
            )
            events_record_many(
                events=[
                    EventDraft(type="tag.created", subject_id=t.pk, data=tag_created_data(t, why))
                    for t in created
                ]
            )
            return created
    except IntegrityError:
        return list(Tag.objects.filter(name_key__in=[t.name_key for t in tags]))


def tags_resolve(
    *,
    change: TagChange,
    actor: AbstractBaseUser | None,
    dry_run: bool = False,
    check_permissions: bool = True,
) -> ResolvedTags:
    """Map the change's names to tags (case-insensitively), creating missing ones to add (on
    a dry run they come back unsaved, with no id).

    Deleted tags → 409; inactive tags to add, unknown names to add without
    ``create_missing``, or a name in both lists → 400; names that would be created when
    ``actor`` lacks ``tags.add_tag`` → 403. ``check_permissions=False`` is for operators'
    commands, where ``actor`` only names whom the history is for.
    """
    add = _names_check(change.add, "tags_to_add")
    remove = _names_check(change.remove, "tags_to_remove")
    add_keys = {name_key(n): n for n in add}
    remove_keys = {name_key(n): n for n in remove}
    if both := [add_keys[k] for k in add_keys if k in remove_keys]:
        raise InvalidInput(
            f"Tag(s) in both tags_to_add and tags_to_remove: {', '.join(both)}.",
            code="in_both_lists",
            attr="tags_to_remove",
        )
    found = tags_by_key([*add_keys, *remove_keys])
    missing = [name for key, name in add_keys.items() if key not in found]
    if missing and not change.create_missing:
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
        tags_may_create_check(actor=actor, names=missing)
    if missing and dry_run:
        found.update(
            {name_key(n): Tag(id=None, name=name_clean(n), name_key=name_key(n)) for n in missing}
        )
    elif missing:
        created = _tags_create_missing(missing, actor=actor, reason=change.reason)
        found.update({t.name_key: t for t in created})
        refuse_unusable()  # a concurrent creator may have made one of them first
    return ResolvedTags(
        add={k: found[k] for k in add_keys},
        remove={k: found[k] for k in remove_keys if k in found},
        warnings=tuple(f"'{remove_keys[k]}' is not a tag" for k in remove_keys if k not in found),
        created=tuple(found[name_key(n)].name for n in missing),
    )
