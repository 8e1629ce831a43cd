"""Cursor pages in ULID (creation) order: ``{"<plural>": [...], "next": url, "previous": url}``."""

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import pagination
from rest_framework.exceptions import ErrorDetail, NotFound, ValidationError
from rest_framework.response import Response

from config.text import find_unstorable

MAX_LIMIT = 200
INVALID_CURSOR = "invalid_cursor"


def _limit_error(message: str, code: str) -> ValidationError:
    return ValidationError({"limit": [ErrorDetail(message, code)]})


class CursorPagination(pagination.CursorPagination):
    ordering = "id"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = MAX_LIMIT
    page_size_query_description = f"Items per page, 1–{MAX_LIMIT} (default 50)."
    envelope = "results"  # set per view by ApiViewMixin.paginator

    def get_page_size(self, request) -> int:
        """``limit`` in 1–200: anything else is a 400 naming it, on every paginated route."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            limit = int(raw)
        except ValueError:
            raise _limit_error("A valid integer is required.", "invalid") from None
        if limit < 1:
            raise _limit_error("Ensure this value is greater than or equal to 1.", "min_value")
        if limit > self.max_page_size:
            raise _limit_error(
                f"Ensure this value is less than or equal to {self.max_page_size}.", "max_value"
            )
        return limit

    def paginate_queryset(self, queryset, request, view=None):
        self._queryset = queryset
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        """A cursor that does not decode, or whose position is not a value of the ordering
        field, is a 400 ``invalid_cursor`` (a tampered cursor must never reach the database)."""
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise self._invalid_cursor() from None
        if cursor is None or cursor.position is None:
            return cursor
        if find_unstorable(cursor.position):
            raise self._invalid_cursor()
        field = self._ordering_field()
        if field is not None:
            try:
                value = field.to_python(cursor.position)
            except (DjangoValidationError, ValueError, TypeError, OverflowError):
                raise self._invalid_cursor() from None
            if isinstance(value, int) and not -(2**63) <= value < 2**63:
                raise self._invalid_cursor()  # no column holds it (PostgreSQL's bigint)
            max_length = getattr(field, "max_length", None)
            if max_length and len(cursor.position) > max_length:
                raise self._invalid_cursor()
        return cursor

    def _ordering_field(self):
        """The model field (or annotation's output field) the page is ordered by."""
        name = self.ordering[0].lstrip("-")
        queryset = getattr(self, "_queryset", None)
        if queryset is None:
            return None
        if name in queryset.query.annotations:
            return queryset.query.annotations[name].output_field
        try:
            return queryset.model._meta.get_field(name)
        except FieldDoesNotExist:
            return None

    def _invalid_cursor(self) -> ValidationError:
        return ValidationError(
            {self.cursor_query_param: [ErrorDetail("Invalid cursor.", INVALID_CURSOR)]}
        )

    def get_paginated_response(self, data) -> Response:
        return Response(
            {
                self.envelope: data,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
            }
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": [self.envelope, "next", "previous"],
            "properties": {
                self.envelope: schema,
                "next": {"type": "string", "format": "uri", "nullable": True},
                "previous": {"type": "string", "format": "uri", "nullable": True},
            },
        }

    def get_schema_operation_parameters(self, view):
        params = super().get_schema_operation_parameters(view)
        for param in params:
            if param["name"] == self.page_size_query_param:
                param["schema"] = {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}
        return params
