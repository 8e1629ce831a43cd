"""Customer list filters, used by the API and by bulk selections."""

import django_filters
from django.db.models import Q, QuerySet

from config.api.filters import ApiFilterSet
from customers.identifiers import normalize_mobile
from customers.models import Customer


class CustomerFilterSet(ApiFilterSet):
    search = django_filters.CharFilter(
        method="filter_search", label="Name, email, reference id or mobile contains"
    )
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Customer
        fields = ["search", "created_after", "created_before"]

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
