"""Reads on customers that are more than a one-liner."""

from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import CharField, F, QuerySet, TextField, Value
from django.db.models.functions import Cast

from config.api.parsers import find_unstorable
from config.fields import StoredId, parse_ulid
from customers.identifiers import is_reference_id, normalize_email, normalize_mobile
from customers.models import Customer

# identify_by → (model field, normaliser returning None for a value that cannot match)
IDENTIFIERS: dict[str, tuple[str, Callable[[str], str | None]]] = {
    "id": ("id", parse_ulid),
    "reference_id": ("reference_id", lambda v: v if is_reference_id(v) else None),
    "email": ("email", normalize_email),
    "mobile": ("mobile", normalize_mobile),
}


def customers_resolve(
    *, identifiers: list[str], identify_by: str = "id", batch_size: int = 900
) -> tuple[list[str], list[str]]:
    """Customer ids for the given identifiers (in order, deduplicated) and the ones unmatched.

    One query per batch, whatever the number of identifiers.
    """
    field, normalise = IDENTIFIERS[identify_by]
    normalised = {raw: None if find_unstorable(raw) else normalise(raw) for raw in identifiers}
    wanted = [v for v in dict.fromkeys(normalised.values()) if v]
    found: dict[str, str] = {}
    for start in range(0, len(wanted), batch_size):
        batch = wanted[start : start + batch_size]
        found.update(Customer.objects.filter(**{f"{field}__in": batch}).values_list(field, "id"))
    ids = list(dict.fromkeys(found[v] for v in normalised.values() if v in found))
    unknown = [raw for raw, v in normalised.items() if v not in found]
    return ids, unknown


def customer_list_queryset() -> QuerySet:
    from tags.selectors import customers_with_current_tags

    return customers_with_current_tags(Customer.objects.select_related("status_label__status"))


def customers_select(
    *,
    identifiers: list[str] | None,
    identify_by: str = "id",
    filters: dict | None,
    limit: int,
) -> tuple[list[str], list[str]]:
    """Ids of the customers named by identifiers and/or matching filters (both: the
    intersection), and the identifiers that matched nobody. ``filters`` are the customer list
    filters as validated JSON (lists of names, datetimes); ``{}`` selects every customer.
    Raises ValidationError when the filters are invalid or select more than ``limit``
    customers."""
    from customers.filtersets import CustomerFilterSet

    queryset = Customer.objects.all()
    unknown: list[str] = []
    if identifiers is not None:
        ids, unknown = customers_resolve(identifiers=identifiers, identify_by=identify_by)
        if filters is None:
            return ids, unknown
        queryset = queryset.filter(pk__in=ids)
    filterset = CustomerFilterSet(data=_filterset_data(filters or {}), queryset=queryset)
    if not filterset.is_valid():
        raise ValidationError(filterset.form.errors.as_data())  # {filter: [errors with codes]}
    ids = list(filterset.qs.order_by("pk").values_list("pk", flat=True)[: limit + 1])
    if len(ids) > limit:
        raise ValidationError(
            f"The filter matches more than {limit} customers; narrow it, or use the retag command.",
            code="too_many",
        )
    return ids, unknown


def _filterset_data(filters: dict) -> dict[str, str]:
    """JSON filter values as the query-string values the FilterSet parses (tag names cannot
    contain a comma, so a list joins losslessly)."""
    data = {}
    for key, value in filters.items():
        if isinstance(value, list):
            data[key] = ",".join(value)
        elif hasattr(value, "isoformat"):
            data[key] = value.isoformat()
        else:
            data[key] = value
    return data


def customer_id_batches(queryset: QuerySet, *, batch_size: int = 5000) -> Iterator[list[StoredId]]:
    """The ids of the customers a queryset selects, in id order, a batch at a time.

    Keyset-paged (``id > last``), so memory stays at one batch for any number of customers and
    a change that moves customers out of the selection (removing the very tag it selects on)
    neither skips nor repeats any. Ids come as the database holds them (``StoredId``), the
    form the set-based writes take, without a conversion per row.
    """
    from django.db import connection

    last = None
    while True:
        page = queryset.order_by("pk")
        if last is not None:
            page = page.filter(pk__gt=last)
        stored = page.annotate(stored_id=Cast("pk", TextField())).values("stored_id")
        sql, params = stored.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"{sql} LIMIT {int(batch_size)}", params)
            ids = [StoredId(row[0]) for row in cursor.fetchall()]
        if not ids:
            return
        yield ids
        if len(ids) < batch_size:
            return
        last = ids[-1]


def customer_id_batches_from(
    identifiers: Iterable[str],
    *,
    identify_by: str = "id",
    batch_size: int = 5000,
    on_unknown: Callable[[list[str]], None] | None = None,
) -> Iterator[list[str]]:
    """Customer ids for a stream of identifiers (a file, read line by line), a batch at a time;
    identifiers that match nobody go to ``on_unknown``. Memory stays at one batch."""
    batch: list[str] = []
    for identifier in identifiers:
        batch.append(identifier)
        if len(batch) >= batch_size:
            yield from _resolved(batch, identify_by, on_unknown)
            batch = []
    if batch:
        yield from _resolved(batch, identify_by, on_unknown)


def _resolved(batch: list[str], identify_by: str, on_unknown) -> Iterator[list[str]]:
    ids, unknown = customers_resolve(identifiers=batch, identify_by=identify_by)
    if unknown and on_unknown is not None:
        on_unknown(unknown)
    if ids:
        yield ids


# Fields whose changes the customer's history shows; bookkeeping columns are left out.
HISTORY_FIELDS = ("name", "email", "mobile", "reference_id", "status_label", "metadata")
ASSIGNMENT_TYPES = {"+": "tag added", "-": "tag removed", "~": "tag changed"}


def customer_history_page(
    *, customer_id: str, page_number: str | int | None, per_page: int = 50
) -> tuple[Page, list[dict[str, Any]]]:
    """One page of everything that happened to a customer, newest first: changes of its own
    fields, tags added and removed, and status changes, each with who, when and why.

    The three logs are merged by one UNION of (time, kind, key), so a page costs a fixed
    handful of queries however long the history is: the count, the page's keys, then the
    page's rows from each log. Entries are ``{"at", "by", "type", "reason", "detail",
    "changes"}`` with ``changes`` as ``{field: [old, new]}``.
    """
    from statuses.models import StatusChange
    from tags.models import TagAssignment

    def keys(queryset: QuerySet, at: str, key: str, kind: str) -> QuerySet:
        return (
            queryset.order_by()
            .annotate(at=F(at), kind=Value(kind, output_field=CharField()), key=F(key))
            .values_list("at", "kind", "key")
        )

    timeline = (
        keys(Customer.history.filter(id=customer_id), "history_date", "history_id", "customer")
        .union(
            keys(
                TagAssignment.history.filter(customer_id=customer_id),
                "history_date",
                "history_id",
                "tag",
            ),
            keys(
                StatusChange.objects.filter(customer_id=customer_id), "created_at", "id", "status"
            ),
            all=True,
        )
        .order_by("-at", "-key")
    )
    page = Paginator(timeline, per_page).get_page(page_number)
    wanted: dict[str, list[int]] = {"customer": [], "tag": [], "status": []}
    for _, kind, key in page.object_list:
        wanted[kind].append(key)
    entries = {
        **_customer_entries(customer_id, wanted["customer"]),
        **_assignment_entries(wanted["tag"]),
        **_status_entries(wanted["status"]),
    }
    return page, [entries[(kind, key)] for _, kind, key in page.object_list]


def _by(record) -> str | None:
    return record.history_user.get_username() if record.history_user else None


def _customer_entries(customer_id: str, history_ids: list[int]) -> dict[tuple, dict]:
    """Field changes of the customer's own records, diffed against the record before each
    (the page's records are consecutive, so one more query fetches the first one's)."""
    from statuses.models import StatusLabel

    if not history_ids:
        return {}
    records = list(
        Customer.history.filter(history_id__in=history_ids)
        .select_related("history_user")
        .order_by("history_id")
    )
    previous = (
        Customer.history.filter(id=customer_id, history_id__lt=records[0].history_id)
        .order_by("-history_id")
        .first()
    )
    label_ids = {r.status_label_id for r in [*records, previous] if r is not None}
    labels = dict(StatusLabel.objects.filter(pk__in=label_ids).values_list("pk", "name"))

    def value(record, field: str):
        if field == "status_label":
            return labels.get(record.status_label_id, record.status_label_id)
        return getattr(record, field)

    entries = {}
    for record in records:
        if record.history_type == "+":
            kind = "created"
            changes = {f: [None, value(record, f)] for f in HISTORY_FIELDS if value(record, f)}
        elif record.history_type == "-":
            kind, changes = "deleted", {}
        else:
            kind = "changed"
            changes = {
                f: [value(previous, f), value(record, f)]
                for f in HISTORY_FIELDS
                if previous is not None and value(previous, f) != value(record, f)
            }
        entries[("customer", record.history_id)] = {
            "at": record.history_date,
            "by": _by(record),
            "type": kind,
            "reason": record.history_change_reason or None,
            "detail": "",
            "changes": changes,
        }
        previous = record
    return entries


def _assignment_entries(history_ids: list[int]) -> dict[tuple, dict]:
    from tags.models import TagAssignment

    entries = {}
    for record in TagAssignment.history.filter(history_id__in=history_ids).select_related(
        "tag", "history_user"
    ):
        tag = record.tag.name if record.tag else f"(deleted tag {record.tag_id})"
        extra = [
            f"{label} {value}"
            for label, value in (
                ("category", record.category),
                ("source", record.source),
                ("expires", record.expires_at and f"{record.expires_at:%Y-%m-%d %H:%M} UTC"),
            )
            if value
        ]
        entries[("tag", record.history_id)] = {
            "at": record.history_date,
            "by": _by(record),
            "type": ASSIGNMENT_TYPES.get(record.history_type, record.history_type),
            "reason": record.history_change_reason or None,
            "detail": f"{tag} ({', '.join(extra)})" if extra else tag,
            "changes": {},
        }
    return entries


def _status_entries(ids: list[int]) -> dict[tuple, dict]:
    from statuses.models import StatusChange

    entries = {}
    for change in StatusChange.objects.filter(pk__in=ids).select_related(
        "from_label", "to_label__status", "created_by"
    ):
        before = change.from_label.name if change.from_label else "—"
        detail = f"{before} → {change.to_label.name} ({change.to_label.status.name}), source {change.source}"
        if abs(change.effective_at - change.created_at) > timedelta(minutes=1):
            detail += f", effective {change.effective_at:%Y-%m-%d %H:%M} UTC"
        entries[("status", change.pk)] = {
            "at": change.created_at,
            "by": change.created_by.get_username() if change.created_by else None,
            "type": "status changed",
            "reason": change.reason,
            "detail": detail,
            "changes": {},
        }
    return entries
