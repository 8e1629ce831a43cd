"""Reads on segments: rules, members, and the segments of one customer."""

import time
from dataclasses import dataclass

from django.conf import settings
from django.db.models import CharField, Count, Max, Q, QuerySet, Value

from config.fields import parse_ulid
from config.names import name_key
from customers.models import Customer
from segments.models import Segment
from segments.rules import Rule, matched_by, rule_count, rule_matches, rule_q
from tags.models import Tag
from tags.selectors import TagMerge, tags_merge_preview

M2M = ("tags_all", "tags_any", "tags_none", "status_labels")


def segment_find(value: str) -> Segment | None:
    """A segment by id or by name (case-insensitive), as operators type them."""
    segment_id = parse_ulid(value.strip())
    if segment_id and (found := Segment.objects.filter(pk=segment_id).first()):
        return found
    return Segment.objects.filter(name_key=name_key(value)).first()


def segment_rule(segment: Segment) -> Rule:
    """The segment's rule (ids in the order they were given), from a prefetch if present."""

    def ids(name: str) -> tuple[str, ...]:
        through = getattr(Segment, name).through
        column = "statuslabel_id" if name == "status_labels" else "tag_id"
        return tuple(
            through.objects.filter(segment_id=segment.pk)
            .order_by("id")
            .values_list(column, flat=True)
        )

    return Rule(*(ids(name) for name in M2M))


def segment_members(segment: Segment, queryset: QuerySet | None = None) -> QuerySet:
    return (queryset if queryset is not None else Customer.objects.all()).filter(
        rule_q(segment_rule(segment))
    )


def segment_count(segment: Segment) -> int:
    return rule_count(segment_rule(segment))


def segment_sizes(*, limit: int) -> tuple[list[dict], int]:
    """Member counts of the first ``limit`` active segments (by name), as ``{"id", "name",
    "customers"}``, and how many active segments there are.

    Rules come from the per-process cache; each count is then a query or two of its own (the
    same fastest form as ``segment_count``), so callers keep ``limit`` small.
    """
    segments = active_segments()
    sizes = [
        {"id": s.id, "name": s.name, "customers": rule_count(s.rule)} for s in segments[:limit]
    ]
    return sizes, len(segments)


def rule_members(rule: Rule, queryset: QuerySet | None = None) -> QuerySet:
    return (queryset if queryset is not None else Customer.objects.all()).filter(rule_q(rule))


@dataclass(frozen=True)
class LoadedSegment:
    id: str
    name: str
    rule: Rule


# checked_at starts at -inf, not 0: the monotonic clock may be younger than the recheck period.
_cache: dict = {"version": None, "segments": [], "checked_at": float("-inf")}


def active_segments_invalidate() -> None:
    """Forget the cached rules in this process (other processes notice within seconds)."""
    _cache["version"] = None
    _cache["checked_at"] = float("-inf")


def active_segments() -> list[LoadedSegment]:
    """Every active segment with its rule, cached per process.

    A cheap query (latest update and count of segments; rule edits go through services that
    save the segment) checks the cache at most every SEGMENT_RULES_RECHECK_SECONDS, so other
    processes see a change within that time and this one at once (services invalidate it);
    a reload reads all rules in a handful of queries, whatever the number of segments.
    """
    if time.monotonic() - _cache["checked_at"] < settings.SEGMENT_RULES_RECHECK_SECONDS:
        return _cache["segments"]
    version = tuple(Segment.objects.aggregate(at=Max("updated_at"), n=Count("id")).values())
    _cache["checked_at"] = time.monotonic()
    if _cache["version"] != version:
        rules: dict[str, dict[str, list[str]]] = {}
        for name in M2M:
            through = getattr(Segment, name).through
            column = "statuslabel_id" if name == "status_labels" else "tag_id"
            for segment_id, target in (
                through.objects.filter(segment__is_active=True)
                .order_by("id")
                .values_list("segment_id", column)
            ):
                rules.setdefault(segment_id, {}).setdefault(name, []).append(target)
        _cache["segments"] = [
            LoadedSegment(
                id=segment_id,
                name=name,
                rule=Rule(*(tuple(rules.get(segment_id, {}).get(m, ())) for m in M2M)),
            )
            for segment_id, name in Segment.objects.filter(is_active=True)
            .order_by("name")
            .values_list("id", "name")
        ]
        _cache["version"] = version
    return _cache["segments"]


def segments_of_customer(
    *, tag_names_by_id: dict[str, str], label_id: str, segments: list[LoadedSegment] | None = None
) -> list[dict]:
    """Active segments a customer is in, with the tags that matched (names), no query per segment."""
    tag_ids = set(tag_names_by_id)
    return [
        {
            "id": segment.id,
            "name": segment.name,
            "matched_by_tags": [
                tag_names_by_id[t] for t in matched_by(segment.rule, tag_ids=tag_ids)
            ],
        }
        for segment in (segments if segments is not None else active_segments())
        if not segment.rule.is_empty
        and rule_matches(segment.rule, tag_ids=tag_ids, label_id=label_id)
    ]


def segments_naming_tags(tag_ids: list[str]) -> QuerySet:
    """Segments whose rule names one of these tags, in any list."""
    return Segment.objects.filter(
        Q(tags_all__in=tag_ids) | Q(tags_any__in=tag_ids) | Q(tags_none__in=tag_ids)
    ).distinct()


@dataclass(frozen=True, kw_only=True)
class TagMergeWithRules(TagMerge):
    """A tag merge and the segments whose rules it rewrites (or, as a preview, would)."""

    segments: tuple[str, ...] = ()

    @classmethod
    def of(cls, merge: TagMerge, segments: list[str]) -> "TagMergeWithRules":
        return cls(**vars(merge), segments=tuple(sorted(segments)))


def tags_merge_preview_with_rules(*, sources: list[Tag], into: Tag) -> TagMergeWithRules:
    """What ``segments.services.tags_merge_with_rules`` would do, counted without writing (the
    admin's confirmation page, ``merge_tags --dry-run``)."""
    merge = tags_merge_preview(sources=sources, into=into)
    named = segments_naming_tags([t.pk for t in merge.sources]) if merge.sources else []
    return TagMergeWithRules.of(merge, [segment.name for segment in named])


def segment_rule_names(segment_id: str) -> dict[str, list[str]]:
    """The segment's rule by names, sorted, as ``Segment.rule`` gives it, in one query (what
    a ``segment.updated`` event compares)."""
    lists = [
        getattr(Segment, relation)
        .through.objects.filter(segment_id=segment_id)
        .annotate(key=Value(key, output_field=CharField()))
        .values_list("key", f"{target}__name")
        for relation, key, target in (
            ("tags_all", "all", "tag"),
            ("tags_any", "any", "tag"),
            ("tags_none", "none", "tag"),
            ("status_labels", "status_labels", "statuslabel"),
        )
    ]
    rule: dict[str, list[str]] = {"all": [], "any": [], "none": [], "status_labels": []}
    for key, name in lists[0].union(*lists[1:], all=True):
        rule[key].append(name)
    return {key: sorted(names) for key, names in rule.items()}
