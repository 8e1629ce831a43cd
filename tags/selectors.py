"""Reads on tags that are more than a one-liner."""

from collections.abc import Iterable
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, QuerySet

from config.fields import parse_ulid
from tags.models import Tag, TagAssignment, tag_name_key

# Fields whose changes the history shows; bookkeeping columns are left out.
HISTORY_FIELDS = ("name", "reference_id", "description", "is_active", "metadata", "is_deleted")


def tag_history_queryset(*, tag: Tag) -> QuerySet:
    return Tag.history.filter(id=tag.id).select_related("history_user")


def _entry_type(record, previous) -> str:
    if record.history_type == "+":
        return "created"
    if record.history_type == "-":
        return "deleted_permanently"
    if previous is not None and previous.is_deleted != record.is_deleted:
        return "deleted" if record.is_deleted else "restored"
    return "changed"


def tag_history_entries(*, tag: Tag, records: list) -> list[dict[str, Any]]:
    """Turn a page of history records (oldest first) into entries with field-level changes.

    Diffs are computed in Python against the preceding record: one extra query for the record
    just before the page, however long the page.
    """
    if not records:
        return []
    previous = (
        Tag.history.filter(id=tag.id, history_id__lt=records[0].history_id)
        .order_by("-history_id")
        .first()
    )
    entries = []
    for record in records:
        changes = {}
        if record.history_type == "~" and previous is not None:
            changes = {
                field: [getattr(previous, field), getattr(record, field)]
                for field in HISTORY_FIELDS
                if getattr(previous, field) != getattr(record, field)
            }
        elif record.history_type == "+":
            changes = {field: [None, getattr(record, field)] for field in HISTORY_FIELDS}
        entries.append(
            {
                "history_id": record.history_id,
                "type": _entry_type(record, previous),
                "at": record.history_date,
                "by": record.history_user.get_username() if record.history_user else None,
                "reason": record.history_change_reason or None,
                "changes": changes,
            }
        )
        previous = record
    return entries


def customers_with_current_tags(queryset: QuerySet) -> QuerySet:
    """Customers with their current assignments (tag and assigner) prefetched in one query,
    ordered by tag name, as ``customer.current_assignments``."""
    from django.db.models import Prefetch

    from tags.models import TagAssignment

    return queryset.prefetch_related(
        Prefetch(
            "tag_assignments",
            queryset=TagAssignment.objects.current()
            .select_related("tag", "assigned_by")
            .order_by("tag__name"),
            to_attr="current_assignments",
        )
    )


def customer_current_assignments(*, customer) -> list:
    """The customer's current assignments, from the prefetch when there is one."""
    from tags.models import TagAssignment

    if hasattr(customer, "current_assignments"):
        return customer.current_assignments
    return list(
        TagAssignment.objects.current()
        .filter(customer_id=customer.pk)
        .select_related("tag", "assigned_by")
        .order_by("tag__name")
    )


def tags_by_key(keys: Iterable[str]) -> dict[str, Tag]:
    """Tags by name key, following merges: a merged tag's name resolves to the tag it was merged
    into (merges keep that one level deep), so old names keep working in requests and rules."""
    found = Tag.objects.filter(name_key__in=list(keys)).select_related("merged_into")
    return {t.name_key: t.merged_into if t.merged_into_id else t for t in found}


def with_all_current_tags(queryset: QuerySet, keys: list[str]) -> QuerySet:
    """Customers currently holding every one of these tags (by name key or alias)."""
    for key in keys:
        queryset = queryset.filter(has_current_tags([key]))
    return queryset


def tag_keys(value: str) -> list[str]:
    """Comma-separated tag names as name keys (empty items dropped)."""
    from tags.models import tag_name_key

    return list(dict.fromkeys(tag_name_key(n) for n in value.split(",") if n.strip()))


def has_current_tags(keys: list[str]):
    """EXISTS: the outer customer currently holds one of these tags (by name key or alias)."""
    from django.db.models import Exists, OuterRef

    from tags.models import TagAssignment

    tag_ids = {t.pk for t in tags_by_key(keys).values()}
    return Exists(
        TagAssignment.objects.current().filter(customer_id=OuterRef("pk"), tag_id__in=tag_ids)
    )


def tag_history_page(
    *, tag: Tag, page_number: str | int | None, per_page: int = 50
) -> tuple[Page, list[dict[str, Any]]]:
    """One page of a tag's history, newest first, with field-level changes.

    Three queries whatever the length of the history: the count, the page, and the record
    just before it (for the diffs).
    """
    records = tag_history_queryset(tag=tag).order_by("-history_id")
    page = Paginator(records, per_page).get_page(page_number)
    oldest_first = list(reversed(page.object_list))
    return page, list(reversed(tag_history_entries(tag=tag, records=oldest_first)))


def tag_find(value: str) -> Tag | None:
    """The tag a person means by an id or a name (any case and spacing), deleted ones too."""
    value = (value or "").strip()
    if not value:
        return None
    tag_id = parse_ulid(value)
    tag = Tag.objects.filter(pk=tag_id).first() if tag_id else None
    return tag or Tag.objects.filter(name_key=tag_name_key(value)).first()


def tag_totals() -> dict[str, int]:
    """How many tags are live and how many deleted, in one query."""
    return Tag.objects.aggregate(
        live=Count("pk", filter=Q(is_deleted=False)),
        deleted=Count("pk", filter=Q(is_deleted=True)),
    )


def tags_most_used(*, limit: int) -> list[dict[str, Any]]:
    """The tags on most customers now (current assignments), most first, as
    ``{"id", "name", "customers"}``: one grouped query over the assignments."""
    rows = (
        TagAssignment.objects.current()
        .values("tag_id", "tag__name")
        .annotate(customers=Count("*"))
        .order_by("-customers", "tag__name")[:limit]
    )
    return [{"id": r["tag_id"], "name": r["tag__name"], "customers": r["customers"]} for r in rows]
