"""Error response schemas for the statuses drf-standardized-errors does not document itself."""

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
