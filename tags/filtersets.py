import django_filters
from django.db.models import Q, QuerySet

from config.api.filters import ApiFilterSet, DateTimeFilter, StrictBooleanFilter
from config.names import name_key
from tags.models import ChangeSet, Tag


class TagFilterSet(ApiFilterSet):
    name = django_filters.CharFilter(
        method="filter_name", label="Exact name (any case)", max_length=100
    )
    search = django_filters.CharFilter(
        method="filter_search",
        label="Name, description or reference id contains",
        max_length=10_000,  # the longest column searched (description)
    )
    is_active = StrictBooleanFilter()
    is_deleted = StrictBooleanFilter(
        label="Deleted tags (default false: they are listed only when asked)"
    )
    reference_id = django_filters.CharFilter(max_length=50)
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Tag
        fields = [
            "name",
            "search",
            "is_active",
            "is_deleted",
            "reference_id",
            "created_after",
            "created_before",
        ]

    @property
    def qs(self) -> QuerySet:
        queryset = super().qs
        if self.form.cleaned_data.get("is_deleted") is None:
            queryset = queryset.filter(is_deleted=False)
        return queryset

    def filter_name(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(name_key=name_key(value)) if value.strip() else queryset

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value)
            | Q(description__icontains=value)
            | Q(reference_id__icontains=value)
        )


class ChangeSetFilterSet(ApiFilterSet):
    state = django_filters.ChoiceFilter(choices=ChangeSet.State.choices)
    kind = django_filters.ChoiceFilter(choices=ChangeSet.Kind.choices)
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = ChangeSet
        fields = ["state", "kind", "created_after", "created_before"]
