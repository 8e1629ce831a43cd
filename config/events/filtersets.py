"""Change-feed filters: event types (with ``customer.*`` wildcards), customer, change-set,
a starting event and a time."""

import re

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from config.api.filters import ApiFilterSet, CommaListFilter, CommaListWidget, DateTimeFilter
from config.api.openapi import EXAMPLE_ID
from config.events.models import EVENT_TYPES, Event
from config.events.selectors import event_position, events_after, type_condition
from config.fields import ULID_PATTERN, parse_ulid

# "customer.tags_changed", or every type of a resource: "customer.*"
TYPE_PATTERN = r"^[a-z_]+\.(?:[a-z_]+|\*)$"
_RESOURCES = {event_type.split(".")[0] for event_type in EVENT_TYPES}
# At most 100 types of at most 100 characters, comma-separated.
TYPES_MAX_LENGTH = 100 * 101


class EventTypesField(forms.CharField):
    """``a,b`` → ``["a", "b"]``, each a known event type or ``<resource>.*``."""

    default_error_messages = {
        "invalid": "Unknown event type(s): %(types)s. Known: %(known)s (or <resource>.*).",
    }

    def to_python(self, value):
        text = super().to_python(value)
        items = [item.strip() for item in text.split(",") if item.strip()]
        unknown = [
            item
            for item in items
            if not re.match(TYPE_PATTERN, item)
            or (item.endswith(".*") and item[:-2] not in _RESOURCES)
            or (not item.endswith(".*") and item not in EVENT_TYPES)
        ]
        if unknown:
            raise ValidationError(
                self.error_messages["invalid"],
                code="invalid",
                params={
                    "types": ", ".join(u[:100] for u in unknown),
                    "known": ", ".join(EVENT_TYPES),
                },
            )
        return items


class EventTypesFilter(CommaListFilter):
    field_class = EventTypesField
    # what each item may be, for the schema
    item_choices = [*EVENT_TYPES, *(f"{resource}.*" for resource in sorted(_RESOURCES))]


class UlidField(forms.Field):
    """A ULID, any case; given empty (``?customer=``) it is an error, not "no filter"."""

    default_error_messages = {"invalid": "Must be a ULID (26 characters)."}

    def __init__(self, *, max_length: int | None = None, **kwargs):
        # max_length is the schema's; anything but 26 characters is already invalid
        super().__init__(**kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        ulid = parse_ulid(str(value).strip())
        if ulid is None:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return ulid


class UlidFilter(django_filters.CharFilter):
    field_class = UlidField
    schema_extra = {"pattern": ULID_PATTERN, "example": EXAMPLE_ID}  # added to the schema


class EventFilterSet(ApiFilterSet):
    types = EventTypesFilter(
        method="filter_types",
        label="Event types, comma-separated; `customer.*` is every customer event",
        max_length=TYPES_MAX_LENGTH,
        widget=CommaListWidget,
    )
    customer = UlidFilter(
        field_name="customer_id", label="Events about this customer (id)", max_length=26
    )
    change_set = UlidFilter(
        field_name="change_set_id", label="Events of this change-set (id)", max_length=26
    )
    after = UlidFilter(
        method="filter_after",
        label="Only the events after this one in the feed (the id of the last event you processed)",
        max_length=26,
    )
    occurred_after = DateTimeFilter(field_name="occurred_at", lookup_expr="gte")

    class Meta:
        model = Event
        fields = ["types", "customer", "change_set", "after", "occurred_after"]

    def filter_types(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        return queryset.filter(type_condition(value)) if value else queryset

    def filter_after(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        position = event_position(event_id=value)
        if position is None:
            raise ValidationError(
                {
                    "after": ValidationError(
                        "No such event (it may be older than the retention period).",
                        code="does_not_exist",
                    )
                }
            )
        return events_after(queryset, position)
