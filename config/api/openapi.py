"""Error response schemas for the statuses drf-standardized-errors does not document itself."""

import re

from rest_framework import serializers


class _ClientError(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    attr = serializers.CharField(allow_null=True)


class _ClientErrorResponse(serializers.Serializer):
    type = serializers.CharField(help_text="`client_error`")
    errors = _ClientError(many=True)


class ErrorResponse409Serializer(_ClientErrorResponse):
    """Conflict: the resource's state forbids the request (e.g. a deleted tag)."""


class ErrorResponse412Serializer(_ClientErrorResponse):
    """``If-Match`` no longer matches the resource's ``ETag``."""


class ErrorResponse413Serializer(_ClientErrorResponse):
    """The body is over the size limit."""


class ErrorResponse422Serializer(_ClientErrorResponse):
    """The ``Idempotency-Key`` was used before with a different request."""


def _attr_pattern(attr: str) -> str:
    parts = []
    names = attr.split(".")
    for position, part in enumerate(names):
        if part == "INDEX":
            parts.append("[0-9]+")
        elif part == "KEY" and position == len(names) - 1:
            parts.append(".*")  # a key the client made up (unknown field): any text, dots too
        elif part == "KEY":
            parts.append("[^.]+")
        else:
            parts.append(re.escape(part))
    return "^" + r"\.".join(parts) + "$"


def postprocess_error_attrs(result: dict, generator, request, public) -> dict:
    """Make nested error paths match real responses.

    drf-standardized-errors documents ``metadata.info.3.key`` as the literal
    ``metadata.info.INDEX.key``; turn such values into patterns, and let the error union be an
    ``anyOf`` without a discriminator (a discriminator needs literal values).
    """
    for schema in result.get("components", {}).get("schemas", {}).values():
        attr = schema.get("properties", {}).get("attr")
        if attr and any(
            "INDEX" in value.split(".") or "KEY" in value.split(".")
            for value in attr.get("enum", [])
        ):
            (value,) = attr.pop("enum")
            attr["pattern"] = _attr_pattern(value)
        if "oneOf" in schema and "discriminator" in schema:
            mapping = schema["discriminator"].get("mapping", {})
            if any("INDEX" in key.split(".") or "KEY" in key.split(".") for key in mapping):
                schema["anyOf"] = schema.pop("oneOf")
                del schema["discriminator"]
    return result
