"""Base FilterSet for the API: a typed filter given an empty value is an error, not ignored."""

import django_filters
from django import forms


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
