"""Base FilterSet for the API: a typed filter given an empty value is an error, not ignored."""

from datetime import UTC

import django_filters
from django import forms

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
