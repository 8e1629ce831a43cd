"""Reads on tags that are more than a one-liner, and the previews of writes (counted, not done)."""

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from config.databases import instances_from_rows
from config.fields import parse_ulid
from config.names import name_key
from customers.models import Customer
from statuses.models import StatusChange
from tags.models import ChangeSet, Tag, TagAssignment, current_assignment_sql
from tags.rules import merge_sources

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
    if hasattr(customer, "current_assignments"):
        return customer.current_assignments
    return list(
        TagAssignment.objects.current()
        .filter(customer_id=customer.pk)
        .select_related("tag", "assigned_by")
        .order_by("tag__name")
    )


def customer_current_tag_names(*, customer_id: str, now: datetime) -> dict[str, str]:
    """The customer's current tags (``TagAssignment.objects.current(now)``) as tag id → name,
    ordered by name: what the tag call answers and checks the tag limit on. Fixed SQL: the
    ORM built this one read in several times the time the database took to run it."""
    current, params = current_assignment_sql(assignment="a", tag="t", now=now)
    quote = connection.ops.quote_name
    customer = Customer._meta.pk.get_db_prep_value(customer_id, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT a.tag_id, t.name FROM {quote(TagAssignment._meta.db_table)} a "
            f"JOIN {quote(Tag._meta.db_table)} t ON t.id = a.tag_id "
            f"WHERE a.customer_id = %s AND {current} ORDER BY t.name",
            [customer, *params],
        )
        rows = cursor.fetchall()
    ulid = Tag._meta.pk.from_db_value  # the ORM's conversion, remembered per process
    return {ulid(tag, None, connection): name for tag, name in rows}


TAG_FIELDS = tuple(f.name for f in Tag._meta.concrete_fields)


@cache
def _tags_select() -> str:
    """The SELECT of every column of the tags (quoting is alike on both databases)."""
    quote = connection.ops.quote_name
    table = quote(Tag._meta.db_table)
    columns = ", ".join(f"{table}.{quote(f.column)}" for f in Tag._meta.concrete_fields)
    return f"SELECT {columns} FROM {table} WHERE {table}.{quote('name_key')} IN "


def _tags_with_keys(keys: list[str]) -> list[Tag]:
    """``Tag.objects.filter(name_key__in=keys)``, every column loaded, as fixed SQL: on the tag
    call building that query cost several times its run; the instances are the ORM's own."""
    if not keys:
        return []
    with connection.cursor() as cursor:
        cursor.execute(f"{_tags_select()}({', '.join(['%s'] * len(keys))})", keys)
        return instances_from_rows(Tag, TAG_FIELDS, cursor.fetchall())


def tags_by_key(keys: Iterable[str]) -> dict[str, Tag]:
    """Tags by name key, following merges: a merged tag's name resolves to the tag it was merged
    into (merges keep that one level deep), so old names keep working in requests and rules."""
    found = _tags_with_keys(list(keys))
    # Merged names are rare: their targets cost a second query only when there are some
    # (a join would double every row's columns on every call).
    if merged := {t.merged_into_id for t in found if t.merged_into_id}:
        targets = Tag.objects.in_bulk(merged)
        return {t.name_key: targets[t.merged_into_id] if t.merged_into_id else t for t in found}
    return {t.name_key: t for t in found}


def with_all_current_tags(queryset: QuerySet, keys: list[str]) -> QuerySet:
    """Customers currently holding every one of these tags (by name key or alias)."""
    for key in keys:
        queryset = queryset.filter(has_current_tags([key]))
    return queryset


def tag_keys(value: str) -> list[str]:
    """Comma-separated tag names as name keys (empty items dropped)."""
    return list(dict.fromkeys(name_key(n) for n in value.split(",") if n.strip()))


def has_current_tags(keys: list[str]):
    """EXISTS: the outer customer currently holds one of these tags (by name key or alias)."""
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
    return tag or Tag.objects.filter(name_key=name_key(value)).first()


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


# --- previews of writes ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AssignmentCounts:
    """Assignments added and removed (or, in a preview, to be) per tag id; a tag still to be
    created, which has no id yet, is counted under its name."""

    added: Counter = field(default_factory=Counter)
    removed: Counter = field(default_factory=Counter)


def assignments_change_count(
    *, customer_ids: Sequence, add: Sequence[Tag], remove: Sequence[Tag], now: datetime
) -> AssignmentCounts:
    """What adding and removing these tags on these customers would change, read-only: one
    grouped count of the assignments they hold (expired ones are re-added, not kept)."""
    held = Counter(
        dict(
            TagAssignment.objects.unexpired(now)
            .filter(
                customer_id__in=customer_ids, tag_id__in=[t.pk for t in [*add, *remove] if t.pk]
            )
            .values_list("tag_id")
            .annotate(n=Count("*"))
            .order_by()
        )
    )
    count = len(customer_ids)
    added = Counter({t.pk: count - held[t.pk] for t in add if t.pk})
    added.update({t.name: count for t in add if not t.pk})
    return AssignmentCounts(added=added, removed=Counter({t.pk: held[t.pk] for t in remove}))


@dataclass(frozen=True, kw_only=True)
class ChangePreview:
    """What one change would do to a set of customers, per customer: how many would gain and
    lose each tag (by tag id, or name for a tag still to be created), how many it would take
    past the tag limit (the change would then be refused), and the first ones it changes."""

    gain: Counter = field(default_factory=Counter)
    lose: Counter = field(default_factory=Counter)
    over_limit: int = 0
    changed: int = 0
    sample: tuple[str, ...] = ()


def customers_change_preview(
    *,
    customer_ids: Sequence,
    add: Sequence[Tag],
    remove: Sequence[Tag],
    now: datetime,
    limit: int,
    sample_size: int = 20,
) -> ChangePreview:
    """Read-only, in two grouped queries: the tags of ``add``/``remove`` each customer holds
    unexpired, and each customer's count of current tags; the rest is counted here, the rule
    of the write (remove first, then add what is not held; over ``limit`` current tags after
    it is refused)."""
    ids = sorted(customer_ids)
    wanted = [t.pk for t in [*add, *remove] if t.pk]
    held: dict[str, set] = {}
    for customer_id, tag_id in (
        TagAssignment.objects.unexpired(now)
        .filter(customer_id__in=ids, tag_id__in=wanted)
        .values_list("customer_id", "tag_id")
    ):
        held.setdefault(customer_id, set()).add(tag_id)
    current = dict(
        TagAssignment.objects.current(now)
        .filter(customer_id__in=ids)
        .values_list("customer_id")
        .annotate(n=Count("*"))
        .order_by()
    )
    gain: Counter = Counter()
    lose: Counter = Counter()
    over, changed, sample = 0, 0, []
    for customer_id in ids:
        has = held.get(customer_id, set())
        gains = [t.pk or t.name for t in add if not t.pk or t.pk not in has]
        loses = [t.pk for t in remove if t.pk in has]
        gain.update(gains)
        lose.update(loses)
        if gains and current.get(customer_id, 0) - len(loses) + len(gains) > limit:
            over += 1
        if gains or loses:
            changed += 1
            if len(sample) < sample_size:
                sample.append(customer_id)
    return ChangePreview(
        gain=gain, lose=lose, over_limit=over, changed=changed, sample=tuple(sample)
    )


@dataclass(frozen=True, kw_only=True)
class TagMerge:
    """What a merge did (or, as a preview, would do), and the reason its history rows carry."""

    into: Tag
    sources: tuple[Tag, ...]
    moved: int = 0  # assignments given to the target
    removed: int = 0  # assignments taken off the sources
    reason: str = ""
    change_set: ChangeSet | None = None  # the record of a merge done (none for a preview)

    @property
    def already_held(self) -> int:
        """Customers that held a source and the target: they keep one assignment."""
        return self.removed - self.moved


def tags_merge_preview(*, sources: list[Tag], into: Tag) -> TagMerge:
    """What ``tags_merge`` would do, counted by the database without writing (the admin's
    confirmation page, ``merge_tags --dry-run``); refuses what the merge would refuse."""
    todo = merge_sources(sources=sources, into=into)
    ids = [t.pk for t in todo]
    if not ids:
        return TagMerge(into=into, sources=())
    of_sources = TagAssignment.objects.filter(tag_id__in=ids)
    holders = TagAssignment.objects.filter(tag_id=into.pk).values("customer_id")
    removed = of_sources.count()
    moved = of_sources.exclude(customer_id__in=holders).values("customer_id").distinct().count()
    return TagMerge(into=into, sources=tuple(todo), moved=moved, removed=removed)


def customer_list_queryset() -> QuerySet:
    """Customers as every customer route shows them: status label and current tags loaded."""
    return customers_with_current_tags(Customer.objects.select_related("status_label__status"))


# --- customers as rows: the API's read path -------------------------------------------------

CUSTOMER_ROW_FIELDS = (
    "id",
    "reference_id",
    "name",
    "email",
    "mobile",
    "status_label_id",
    "status_label__name",
    "status_label__status__name",
    "created_at",
    "updated_at",
)
ASSIGNMENT_ROW_FIELDS = ("customer_id", "tag__name")
ASSIGNMENT_DETAIL_FIELDS = (
    "tag_id",
    "category",
    "source",
    "expires_at",
    "assigned_by__username",
    "created_at",
)


def customer_rows(queryset: QuerySet, *, metadata: bool = False) -> QuerySet:
    """Customers (any filtered queryset of them) as plain rows with their status label:
    what the customer list answers, without a model instance per row. ``metadata`` only
    when asked for: a column nobody shows is not read."""
    fields = (*CUSTOMER_ROW_FIELDS, "metadata") if metadata else CUSTOMER_ROW_FIELDS
    return queryset.values(*fields)


def current_assignment_rows(
    *, customer_ids: Sequence[str], details: bool = False, tag_ids: bool = False
) -> dict[str, list[dict[str, Any]]]:
    """The customers' current assignments as rows (``customer_id``, ``tag__name``), by
    customer id, each customer's ordered by tag name: one query however many customers.
    ``details`` adds the tag id, the assignment's metadata and its assigner's username (a join
    only then); ``tag_ids`` the tag id alone."""
    if details:
        fields = (*ASSIGNMENT_ROW_FIELDS, *ASSIGNMENT_DETAIL_FIELDS)
    else:
        fields = (*ASSIGNMENT_ROW_FIELDS, "tag_id") if tag_ids else ASSIGNMENT_ROW_FIELDS
    by_customer: dict[str, list[dict[str, Any]]] = {}
    if not customer_ids:
        return by_customer
    for row in (
        TagAssignment.objects.current()
        .filter(customer_id__in=customer_ids)
        .order_by("tag__name")
        .values(*fields)
    ):
        by_customer.setdefault(row["customer_id"], []).append(row)
    return by_customer


def change_set_customers(change_set_id: str, customers: QuerySet) -> QuerySet:
    """The customers of ``customers`` a change-set changed: those its assignment history rows
    or its status changes name (a revert's, a merge's too); none for an id that is no ULID."""
    key = parse_ulid(change_set_id)
    if key is None:
        return customers.none()
    history = TagAssignment.history.model.objects.filter(
        change_set_id=key, customer_id=OuterRef("pk")
    )
    statuses = StatusChange.objects.filter(change_set_id=key, customer_id=OuterRef("pk"))
    return customers.filter(Exists(history) | Exists(statuses))
