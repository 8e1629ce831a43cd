"""Base serializer for every model the API exposes."""

from django.db import models
from rest_framework import serializers

from config.api.fields import (
    ApiDateTimeField,
    StrictBooleanField,
    StrictCharField,
    StrictEmailField,
)
from config.fields import ULIDField


class ApiModelSerializer(serializers.ModelSerializer):
    """ULIDs as strings, datetimes in the caller's format, and optional ``includes`` fields.

    ``includable = {"customer.metadata": "metadata"}`` names fields that are rendered only when
    the request's ``includes`` asks for them; they are still accepted on input.
    """

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: ApiDateTimeField,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.EmailField: StrictEmailField,
        models.BooleanField: StrictBooleanField,
        ULIDField: StrictCharField,
    }
    includable: dict[str, str] = {}

    @property
    def _readable_fields(self):
        includes = self.context.get("includes") or set()
        hidden = {field for key, field in self.includable.items() if key not in includes}
        for field in super()._readable_fields:
            if field.field_name not in hidden:
                yield field


class PermissionFieldsMixin:
    """Response fields shown only to callers holding a permission.

    ``field_permissions = {"segments": "segments.view_segment"}``: for a caller without it the
    key is absent (declare such a field ``required=False`` so the schema says it may be).
    Without a request in the context nobody is known, so the field is absent too.
    """

    field_permissions: dict[str, str] = {}

    @property
    def _readable_fields(self):
        user = getattr(self.context.get("request"), "user", None)
        hidden = {
            name
            for name, permission in self.field_permissions.items()
            if user is None or not user.has_perm(permission)
        }
        for field in super()._readable_fields:
            if field.field_name not in hidden:
                yield field


class ReasonField(StrictCharField):
    """Optional ``reason`` on writes, stored as the history record's change reason."""

    def __init__(self, **kwargs):
        kwargs.setdefault("write_only", True)
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("max_length", 255)
        kwargs.setdefault("help_text", "Why this change is made; kept in the history.")
        super().__init__(**kwargs)
