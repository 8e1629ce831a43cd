"""A customer's timeline: its own changes, its tags and its status changes, merged.

It reads the history of three apps (customers, tags, statuses), so it sits on the edge, where
the admin's customer history page calls it.
"""

from datetime import timedelta
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import CharField, F, QuerySet, Value

from customers.models import Customer
from statuses.models import StatusChange, StatusLabel
from tags.models import TagAssignment

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
