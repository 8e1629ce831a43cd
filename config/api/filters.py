"""Base FilterSet for the API: a typed filter given an empty value is an error, not ignored."""

from datetime import UTC

import django_filters
from django import forms
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.filters import OrderingFilter

TRUE_VALUES = {"true", "1"}
FALSE_VALUES = {"false", "0"}


class StrictNullBooleanField(forms.NullBooleanField):
    """``true``/``false``/``1``/``0`` (any case) or absent; anything else is an error."""

    widget = forms.TextInput  # pass the raw value through (the default widget maps junk to None)
    default_error_messages = {"invalid": "Must be true or false."}

    def to_python(self, value):
        if value in (None, True, False):
            return value
        text = str(value).strip().lower()
        if text in TRUE_VALUES:
            return True
        if text in FALSE_VALUES:
            return False
        raise forms.ValidationError(self.error_messages["invalid"], code="invalid")

    def validate(self, value) -> None:
        pass


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictNullBooleanField


class ApiFilterSet(django_filters.FilterSet):
    """``?created_after=`` is a 400 naming the parameter, as the schema says it must be a
    date-time; only free-text filters accept an empty string (and then filter nothing)."""

    @property
    def form(self):
        form = super().form
        for field in form.fields.values():
            if not isinstance(field, forms.CharField) or isinstance(field, forms.TypedChoiceField):
                field.empty_values = [value for value in field.empty_values if value != ""]
        return form


class CommaListWidget(forms.TextInput):
    """A list parameter sent comma-separated (``?tags=a,b``, what the schema documents) or
    repeated (``?tags=a&tags=b``, what many generated clients send): both read as ``a,b``."""

    def value_from_datadict(self, data, files, name):
        if hasattr(data, "getlist"):
            values = data.getlist(name)
            return ",".join(values) if values else None
        return super().value_from_datadict(data, files, name)


class CommaListFilter(django_filters.CharFilter):
    """A filter whose value is a comma-separated list (see ``CommaListWidget``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", CommaListWidget)
        super().__init__(*args, **kwargs)


def query_list(query_params, key: str) -> list[str]:
    """The items of a list parameter, comma-separated and/or repeated, blanks dropped."""
    return [
        item.strip()
        for value in query_params.getlist(key)
        for item in value.split(",")
        if item.strip()
    ]


class UtcIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """ISO 8601, converted to UTC: PostgreSQL refuses offsets beyond ±15:59 that ISO allows."""

    default_error_messages = {"out_of_range": "Out of the supported range once converted to UTC."}

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None or parsed.tzinfo is None:
            return parsed
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(
                self.error_messages["out_of_range"], code="invalid"
            ) from None


class DateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


# Query strings: bounds the schema declares and the API enforces (config.api.viewsets).
QUERY_VALUE_MAX_LENGTH = 1000
# Parameters that take a comma-separated list: at most this many items of ≤ 100 characters.
LIST_QUERY_PARAMETERS = {"tags", "tags_any", "tags_none", "keys", "includes", "types"}
LIST_QUERY_MAX_ITEMS = 100
LIST_QUERY_ITEM_MAX_LENGTH = 100


def query_value_errors(key: str, values: list[str]) -> list[ErrorDetail]:
    """Why the values of query parameter ``key`` exceed the documented bounds, if they do."""
    if key not in LIST_QUERY_PARAMETERS and any(
        len(value) > QUERY_VALUE_MAX_LENGTH for value in values
    ):
        return [
            ErrorDetail(
                f"Ensure this value has at most {QUERY_VALUE_MAX_LENGTH} characters.",
                "max_length",
            )
        ]
    if key in LIST_QUERY_PARAMETERS:
        items = [item for value in values for item in value.split(",")]
        if len(items) > LIST_QUERY_MAX_ITEMS:
            return [ErrorDetail(f"Give at most {LIST_QUERY_MAX_ITEMS} items.", "max_length")]
        if any(len(item.strip()) > LIST_QUERY_ITEM_MAX_LENGTH for item in items):
            return [
                ErrorDetail(
                    f"Each item has at most {LIST_QUERY_ITEM_MAX_LENGTH} characters.",
                    "max_length",
                )
            ]
    return []


class StrictOrderingFilter(OrderingFilter):
    """``?ordering=`` naming a field the list cannot be sorted by is a 400, not ignored."""

    def get_ordering(self, request, queryset, view):
        params = request.query_params.get(self.ordering_param)
        if params:
            fields = [param.strip() for param in params.split(",")]
            valid = {
                f"{prefix}{name}"
                for name, _ in self.get_valid_fields(queryset, view, {"request": request})
                for prefix in ("", "-")
            }
            if unknown := [field for field in fields if field not in valid]:
                raise ValidationError(
                    {
                        self.ordering_param: [
                            ErrorDetail(
                                f"Cannot order by {', '.join(unknown)}. Allowed: "
                                f"{', '.join(sorted(valid))}.",
                                "invalid",
                            )
                        ]
                    }
                )
        return super().get_ordering(request, queryset, view)
