"""Writes on segments, the segments of a customer for the tagging response, and tag merges
(which rewrite the segment rules naming the merged tags)."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.concurrency import locked_for_write
from config.events.services import event_record, field_changes
from config.exceptions import Conflict, InvalidInput
from config.history import with_history
from config.names import name_key
from customers.models import Customer
from segments.models import Segment
from segments.selectors import (
    TagMergeWithRules,
    active_segments_invalidate,
    segment_rule_names,
    segments_naming_tags,
    segments_of_customer,
)
from statuses.models import StatusLabel
from tags.models import TAG_NAME_RULE, Tag, tag_name_is_valid
from tags.selectors import tags_by_key
from tags.services import tags_merge

RULE_LISTS = ("all", "any", "none")


def segments_for_customer(*, customer: Customer, tag_names_by_id: dict[str, str]) -> list[dict]:
    """Active segments the customer is in after a change, with ``matched_by_tags``."""
    return segments_of_customer(tag_names_by_id=tag_names_by_id, label_id=customer.status_label_id)


def rule_resolve(rule: dict[str, list[str]]) -> dict[str, list]:
    """Names → tags and labels, in the order given. A rule needs a condition; a tag in two
    lists, or an unknown or deleted tag, or an unknown label, is a 400 naming it."""
    names = {
        key: list(dict.fromkeys(rule.get(key) or [])) for key in (*RULE_LISTS, "status_labels")
    }
    if not any(names.values()):
        raise InvalidInput(
            "A rule needs at least one condition (all, any, none or status_labels).",
            code="empty_rule",
            attr="rule",
        )
    keys = {key: [name_key(n) for n in names[key]] for key in RULE_LISTS}
    seen: dict[str, str] = {}
    for key in RULE_LISTS:
        for name, k in zip(names[key], keys[key], strict=True):
            if k in seen and seen[k] != key:
                raise InvalidInput(
                    f"Tag '{name}' is in both '{seen[k]}' and '{key}'.",
                    code="tag_in_two_lists",
                    attr=f"rule.{key}",
                )
            seen[k] = key
    tags = tags_by_key(seen)  # a merged tag's old name resolves to the tag it went into
    resolved: dict[str, list] = {}
    lists_of: dict[str, str] = {}
    for key in RULE_LISTS:
        resolved[key] = []
        for name, k in zip(names[key], keys[key], strict=True):
            if not tag_name_is_valid(name):  # no tag can have it: say why
                raise InvalidInput(
                    f"Unknown tag '{name}': not a valid tag name ({TAG_NAME_RULE}).",
                    code="unknown_tags",
                    attr=f"rule.{key}",
                )
            tag = tags.get(k)
            if tag is None:
                raise InvalidInput(
                    f"Unknown tag '{name}'.", code="unknown_tags", attr=f"rule.{key}"
                )
            if tag.is_deleted:
                raise InvalidInput(
                    f"Tag '{tag.name}' is deleted; restore it first.",
                    code="unknown_tags",
                    attr=f"rule.{key}",
                )
            if lists_of.setdefault(tag.pk, key) != key:
                raise InvalidInput(
                    f"Tag '{name}' (an alias of '{tag.name}') is in both "
                    f"'{lists_of[tag.pk]}' and '{key}'.",
                    code="tag_in_two_lists",
                    attr=f"rule.{key}",
                )
            if tag not in resolved[key]:
                resolved[key].append(tag)
    labels = {
        lb.name_key: lb
        for lb in StatusLabel.objects.filter(
            name_key__in=[name_key(n) for n in names["status_labels"]]
        )
    }
    resolved["status_labels"] = []
    for name in names["status_labels"]:
        label = labels.get(name_key(name))
        if label is None:
            raise InvalidInput(
                f"No status label named '{name}'.", code="invalid_label", attr="rule.status_labels"
            )
        resolved["status_labels"].append(label)
    return resolved


def _set_rule(segment: Segment, resolved: dict[str, list]) -> None:
    """Replace the rule's rows, keeping the order given (``set()`` would lose it; the order
    is the order of ``matched_by_tags``)."""
    for relation, key, column in (
        ("tags_all", "all", "tag_id"),
        ("tags_any", "any", "tag_id"),
        ("tags_none", "none", "tag_id"),
        ("status_labels", "status_labels", "statuslabel_id"),
    ):
        through = getattr(Segment, relation).through
        through.objects.filter(segment_id=segment.pk).delete()
        through.objects.bulk_create(
            [through(segment_id=segment.pk, **{column: obj.pk}) for obj in resolved[key]]
        )


SEGMENT_FIELDS = ("name", "description", "is_active")


def _segment_fields(segment: Segment, rule: dict[str, list[str]] | None) -> dict[str, Any]:
    """The segment as its events show it; the rule by names, sorted (as ``Segment.rule``)."""
    fields = {field: getattr(segment, field) for field in SEGMENT_FIELDS}
    if rule is not None:
        fields["rule"] = rule
    return fields


def _rule_names(resolved: dict[str, list]) -> dict[str, list[str]]:
    return {key: sorted(obj.name for obj in objs) for key, objs in resolved.items()}


def _check_name(name: str, exclude: str | None = None) -> None:
    if Segment.objects.filter(name_key=name_key(name)).exclude(pk=exclude).exists():
        raise Conflict(
            f"A segment named '{name}' already exists.", code="duplicate_name", attr="name"
        )


def segment_save(
    *,
    segment: Segment | None,
    data: dict[str, Any],
    actor: AbstractBaseUser | None,
    reason: str = "",
    if_match: list[str] | None = None,
) -> Segment:
    """Create or change a segment and its rule in one transaction.

    A change locks the segment's row first and checks ``if_match`` on it (412), so two
    writers holding the same ETag cannot both win. The segment row is saved last, so its
    ``updated_at`` (which the rule cache watches) moves after the rule has changed.
    Events: ``segment.created`` with the segment and its rule; ``segment.updated`` listing
    each changed field (the rule as a whole), none when nothing changed.
    """
    create = segment is None
    resolved = rule_resolve(data["rule"]) if "rule" in data else None
    try:
        with transaction.atomic():
            segment = Segment() if create else locked_for_write(Segment, segment.pk, if_match)
            before = None
            if not create:
                old_rule = segment_rule_names(segment.pk) if resolved is not None else None
                before = _segment_fields(segment, old_rule)
            if "name" in data:
                _check_name(data["name"], exclude=None if create else segment.pk)
                segment.name = data["name"]
            for field in ("description", "is_active"):
                if field in data:
                    setattr(segment, field, data[field] if data[field] is not None else "")
            with_history(segment, actor=actor, reason=reason)
            if create:
                segment.save(force_insert=True)
            if resolved is not None:
                _set_rule(segment, resolved)
            segment.updated_at = timezone.now()
            segment.save()
            new_rule = _rule_names(resolved) if resolved is not None else None
            after = _segment_fields(segment, new_rule)
            if before is None:
                event_record(
                    type="segment.created",
                    subject_id=segment.pk,
                    data={"segment": after, "reason": reason or None},
                )
            elif changes := field_changes(before=before, after=after):
                event_record(
                    type="segment.updated",
                    subject_id=segment.pk,
                    data={"changed": changes, "reason": reason or None},
                )
    except IntegrityError:
        raise Conflict(
            "A segment with this name already exists.", code="duplicate_name", attr="name"
        ) from None
    transaction.on_commit(active_segments_invalidate)
    return segment


def segment_delete(
    *,
    segment: Segment,
    actor: AbstractBaseUser | None,
    reason: str = "",
    if_match: list[str] | None = None,
) -> None:
    """Delete a segment, with its history row and a ``segment.deleted`` event."""
    with transaction.atomic():
        locked = locked_for_write(Segment, segment.pk, if_match, no_key=False)
        event_record(
            type="segment.deleted",
            subject_id=locked.pk,
            data={"segment": _segment_fields(locked, None), "reason": reason or None},
        )
        with_history(locked, actor=actor, reason=reason)
        locked.delete()
    transaction.on_commit(active_segments_invalidate)


def tags_merge_with_rules(
    *, sources: list[Tag], into: Tag, actor: AbstractBaseUser | None, reason: str = ""
) -> TagMergeWithRules:
    """Merge tags (``tags.services.tags_merge``) and rewrite every segment rule naming a
    source to name the target instead, in one transaction: a rule that would then hold the
    target in two lists refuses the whole merge (400), nothing written.

    The admin's "Merge into…" and ``merge_tags`` call this; running it again changes nothing.
    """
    with transaction.atomic():
        merge = tags_merge(sources=sources, into=into, actor=actor, reason=reason)
        if not merge.sources:
            return TagMergeWithRules.of(merge, [])
        source_names = {t.name for t in merge.sources}
        segments = list(
            segments_naming_tags([t.pk for t in merge.sources]).prefetch_related(
                "tags_all", "tags_any", "tags_none", "status_labels"
            )
        )
        for segment in segments:
            rule = segment.rule
            for key in RULE_LISTS:
                renamed = [merge.into.name if n in source_names else n for n in rule[key]]
                rule[key] = list(dict.fromkeys(renamed))
            segment_save(segment=segment, data={"rule": rule}, actor=actor, reason=merge.reason)
    return TagMergeWithRules.of(merge, [segment.name for segment in segments])
