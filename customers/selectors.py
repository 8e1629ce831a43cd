"""Reads on customers that are more than a one-liner."""

from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from config.api.parsers import find_unstorable
from config.fields import parse_ulid
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
    intersection), and the identifiers that matched nobody. Raises ValidationError when the
    filters are invalid or select more than ``limit`` customers."""
    from customers.filtersets import CustomerFilterSet

    queryset = Customer.objects.all()
    unknown: list[str] = []
    if identifiers is not None:
        ids, unknown = customers_resolve(identifiers=identifiers, identify_by=identify_by)
        if filters is None:
            return ids, unknown
        queryset = queryset.filter(pk__in=ids)
    filterset = CustomerFilterSet(data=filters or {}, queryset=queryset)
    if not filterset.is_valid():
        raise ValidationError(
            [f"{field}: {' '.join(errs)}" for field, errs in filterset.errors.items()]
        )
    ids = list(filterset.qs.order_by("pk").values_list("pk", flat=True)[: limit + 1])
    if len(ids) > limit:
        raise ValidationError(
            f"The filter matches more than {limit} customers; narrow it, or use the retag command."
        )
    return ids, unknown
