"""Cursor pages in ULID (creation) order: ``{"<plural>": [...], "next": url, "previous": url}``."""

from rest_framework import pagination
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.response import Response

MAX_LIMIT = 200


class CursorPagination(pagination.CursorPagination):
    ordering = "id"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = MAX_LIMIT
    page_size_query_description = f"Items per page, 1–{MAX_LIMIT} (larger values are clamped)."
    envelope = "results"  # set per view by ApiViewMixin.paginator

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            limit = int(raw)
        except ValueError:
            raise ValidationError(
                {"limit": [ErrorDetail("A valid integer is required.", "invalid")]}
            ) from None
        if limit < 1:
            raise ValidationError(
                {
                    "limit": [
                        ErrorDetail("Ensure this value is greater than or equal to 1.", "min_value")
                    ]
                }
            )
        return min(limit, self.max_page_size)

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
                param["schema"] = {"type": "integer", "minimum": 1}
        return params
