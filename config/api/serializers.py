"""Base serializers for every request and model the API exposes."""

from collections.abc import Mapping

from django.db import models
from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers

from config.api.fields import (
    ApiDateTimeField,
    StrictBooleanField,
    StrictCharField,
    StrictEmailField,
)
from config.fields import ULIDField

UNKNOWN_FIELD = "unknown_field"


class StrictInputMixin:
    """Request bodies are closed: a key the serializer does not accept (an unknown field, or a
    read-only one such as ``id``) is a 400 naming it, never silently dropped.

    A nested object is always validated as a whole object: a PATCH on the parent replaces the
    nested value entirely, so ``partial`` must not let it skip its own required fields.
    """

    # An object with fewer keys is refused (``minProperties`` in the schema).
    min_fields: int = 0

    def to_internal_value(self, data):
        if self.parent is not None and getattr(self.root, "partial", False):
            # Validated unbound, so its fields see a root that is not partial.
            return type(self)(context=self.context).to_internal_value(data)
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            errors = {}
            for key in data:
                if key in writable:
                    continue
                detail = (
                    "This field is read-only."
                    if key in self.fields
                    else f"Unknown field. Allowed: {', '.join(sorted(writable)) or 'none'}."
                )
                errors[str(key)] = [serializers.ErrorDetail(detail, UNKNOWN_FIELD)]
            if errors:
                raise serializers.ValidationError(errors)
            if len(data) < self.min_fields:
                detail = f"Give at least {self.min_fields} of: {', '.join(sorted(writable))}."
                raise serializers.ValidationError([serializers.ErrorDetail(detail, "empty")])
        return super().to_internal_value(data)


class RequestSerializer(StrictInputMixin, serializers.Serializer):
    """Base of every request body (and nested object in one) that is not a model."""


def unknown_field_error_paths(serializer, prefix: str = "") -> dict[str, set[str]]:
    """``{"KEY": {"unknown_field"}, "filter.KEY": …}`` for the schema's error lists: every
    object of a request body refuses keys it does not know."""
    paths: dict[str, set[str]] = {}
    if isinstance(serializer, serializers.ListSerializer):
        return unknown_field_error_paths(serializer.child, f"{prefix}INDEX.")
    if not isinstance(serializer, StrictInputMixin):
        return paths
    paths[f"{prefix}KEY"] = {UNKNOWN_FIELD}
    if serializer.min_fields:
        paths[prefix.rstrip(".") or "non_field_errors"] = {"empty"}
    for name, field in serializer.fields.items():
        if not field.read_only:
            paths.update(unknown_field_error_paths(field, f"{prefix}{name}."))
    return paths


class ApiModelSerializer(StrictInputMixin, serializers.ModelSerializer):
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


class DestroyRequestSerializer(RequestSerializer):
    """The optional body of a DELETE: only the reason kept in the history."""

    reason = ReasonField()


class ClosedRequestSchema(OpenApiSerializerExtension):
    """Request components of strict serializers say ``additionalProperties: false``, which is
    what ``StrictInputMixin`` enforces."""

    target_class = StrictInputMixin
    match_subclasses = True

    def map_serializer(self, auto_schema, direction) -> dict:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["additionalProperties"] = False
            if self.target.min_fields:
                schema["minProperties"] = self.target.min_fields
        return schema
