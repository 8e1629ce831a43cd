"""Customer list filters, used by the API and by bulk selections."""

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from config.api.filters import ApiFilterSet, CommaListFilter, DateTimeFilter
from config.fields import parse_ulid
from config.names import name_key as status_name_key
from customers.identifiers import normalize_mobile
from customers.models import Customer
from customers.selectors import customers_resolve
from segments.models import Segment
from segments.selectors import segment_members
from tags.selectors import has_current_tags, tag_keys, with_all_current_tags

# A list of tag names: at most 100 names of at most 100 characters, comma-separated.
TAG_LIST_MAX_LENGTH = 100 * 101


class CustomerFilterSet(ApiFilterSet):
    search = django_filters.CharFilter(
        method="filter_search",
        label="Name, email, reference id or mobile contains",
        max_length=255,  # the longest column searched (name)
    )
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")
    status = django_filters.CharFilter(
        method="filter_status", label="Status name (any case)", max_length=100
    )
    label = django_filters.CharFilter(
        method="filter_label", label="Status label name (any case)", max_length=100
    )
    segment = django_filters.CharFilter(
        method="filter_segment", label="Member of this segment (id)", max_length=26
    )
    tags = CommaListFilter(
        method="filter_tags_all", label="Has all these tags", max_length=TAG_LIST_MAX_LENGTH
    )
    tags_any = CommaListFilter(
        method="filter_tags_any",
        label="Has at least one of these tags",
        max_length=TAG_LIST_MAX_LENGTH,
    )
    tags_none = CommaListFilter(
        method="filter_tags_none", label="Has none of these tags", max_length=TAG_LIST_MAX_LENGTH
    )

    class Meta:
        model = Customer
        fields = [
            "search", "created_after", "created_before", "status", "label", "segment", "tags", "tags_any", "tags_none",
        ]  # fmt: skip

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        condition = (
            Q(name__icontains=value) | Q(email__icontains=value) | Q(reference_id__icontains=value)
        )
        if mobile := normalize_mobile(value):
            condition |= Q(mobile__contains=mobile)
        return queryset.filter(condition)

    def filter_tags_all(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return with_all_current_tags(queryset, tag_keys(value))

    def filter_tags_any(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        keys = tag_keys(value)
        return queryset.filter(has_current_tags(keys)) if keys else queryset

    def filter_tags_none(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        keys = tag_keys(value)
        return queryset.exclude(has_current_tags(keys)) if keys else queryset

    def filter_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return (
            queryset.filter(status_label__status__name_key=status_name_key(value))
            if value.strip()
            else queryset
        )

    def filter_label(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return (
            queryset.filter(status_label__name_key=status_name_key(value))
            if value.strip()
            else queryset
        )

    def filter_segment(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        segment = (
            Segment.objects.filter(pk=parse_ulid(value)).first() if parse_ulid(value) else None
        )
        if segment is None:
            raise ValidationError(
                {"segment": ValidationError("No such segment.", code="does_not_exist")}
            )
        return segment_members(segment, queryset)


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
