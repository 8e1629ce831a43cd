"""OpenAPI generation that knows the API conventions, so views do not repeat them."""

import re

from drf_spectacular.utils import OpenApiParameter
from drf_standardized_errors.openapi import AutoSchema as StandardizedErrorsAutoSchema

from config.api.fields import UNIX_MS_HEADER
from config.api.idempotency import KEY_PATTERN

ENVELOPED_ACTIONS = {"retrieve", "create", "update", "partial_update", "destroy"}
BODY_METHODS = {"POST", "PUT", "PATCH"}


class AutoSchema(StandardizedErrorsAutoSchema):
    def _action(self) -> str | None:
        return getattr(self.view, "action", None)

    def _is_detail(self) -> bool:
        return "{" in self.path and getattr(self.view, "identify_by", None) is not None

    def get_override_parameters(self):
        params = list(super().get_override_parameters())
        params.append(
            OpenApiParameter(
                UNIX_MS_HEADER,
                str,
                OpenApiParameter.HEADER,
                enum=["iso", "unix_ms"],
                description="`unix_ms` renders every datetime as integer UNIX milliseconds.",
            )
        )
        identify_by = getattr(self.view, "identify_by", None)
        if "{id}" in self.path:
            # A list-level action's path (…/bulk_tag, …/lookup/status) cannot be an {id}.
            reserved = sorted(
                {
                    action.url_path.split("/")[0]
                    for action in self.view.get_extra_actions()
                    if not action.detail
                }
            )
            pattern = (
                f"^(?!(?:{'|'.join(map(re.escape, reserved))})$)[^/]+$" if reserved else "^[^/]+$"
            )
            params.append(
                OpenApiParameter(
                    "id",
                    {"type": "string", "pattern": pattern},
                    OpenApiParameter.PATH,
                    description="The resource's ULID (26 characters, any case), or the "
                    "identifier named by `identify_by` where the endpoint accepts it.",
                )
            )
        if (
            identify_by
            and "{id}" in self.path
            and self._action()
            in ENVELOPED_ACTIONS | set(getattr(self.view, "identify_by_actions", ()))
        ):
            params.append(
                OpenApiParameter(
                    "identify_by",
                    str,
                    enum=list(identify_by),
                    description="Which identifier `{id}` is (default `id`).",
                )
            )
        choices = getattr(self.view, "includes_choices", ())
        if choices and self._action() in ENVELOPED_ACTIONS | {"list"}:
            params.append(
                OpenApiParameter(
                    "includes",
                    {"type": "array", "items": {"type": "string", "enum": list(choices)}},
                    explode=True,
                    description="Optional relations to add to the response.",
                )
            )
        if self.method == "POST":
            params.append(
                OpenApiParameter(
                    "Idempotency-Key",
                    {"type": "string", "pattern": KEY_PATTERN, "maxLength": 255},
                    OpenApiParameter.HEADER,
                    description="Retry-safe POST: the same key and body within 24 h replays the "
                    "first response (`Idempotent-Replayed: true`); another body → 422; "
                    "still running → 409.",
                )
            )
        if getattr(self.view, "use_etags", False) and self.method in {"PUT", "PATCH", "DELETE"}:
            params.append(
                OpenApiParameter(
                    "If-Match",
                    str,
                    OpenApiParameter.HEADER,
                    description="The ETag you read; the write fails with 412 if it changed.",
                )
            )
        return params

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        includable = getattr(serializer, "includable", {})
        if direction == "response" and includable and "required" in schema:
            # present only when asked for with ?includes=
            schema["required"] = [f for f in schema["required"] if f not in includable.values()]
        if direction == "request" and (
            groups := getattr(serializer, "schema_any_of_required", None)
        ):
            from rest_framework import serializers as drf

            schema_nonempty = getattr(serializer, "schema_any_of_nonempty", False)

            def nonempty(name: str) -> dict:
                field = serializer.fields[name]
                is_list = isinstance(field, drf.ListField | drf.ListSerializer)
                return {"minItems": 1} if is_list and schema_nonempty else {}

            schema["anyOf"] = [
                {"required": list(group), "properties": {f: nonempty(f) for f in group}}
                for group in groups
            ]
        return schema

    def _get_request_body(self, direction="request"):
        body = super()._get_request_body(direction)
        serializer = self.get_request_serializer()
        if body and getattr(serializer, "schema_any_of_required", None):
            body["required"] = True
        return body

    def _get_paginator(self):
        paginator = super()._get_paginator()
        if paginator is not None and getattr(self.view, "envelope_plural", None):
            paginator.envelope = self.view.envelope_plural
        return paginator

    def _get_response_for_code(
        self, serializer, status_code, media_types=None, direction="response"
    ):
        response = super()._get_response_for_code(serializer, status_code, media_types, direction)
        envelope = getattr(self.view, "envelope", None)
        if (
            envelope
            and self._action() in ENVELOPED_ACTIONS
            and str(status_code).startswith("2")
            and "content" in response
        ):
            for media in response["content"].values():
                media["schema"] = {
                    "type": "object",
                    "required": [envelope],
                    "properties": {envelope: media["schema"]},
                }
        return response

    def _should_add_error_response(self, responses: dict, status_code: str) -> bool:
        if status_code == "409":
            return status_code not in responses and self._action() in getattr(
                self.view, "conflict_actions", ()
            )
        if status_code == "412":
            return (
                status_code not in responses
                and getattr(self.view, "use_etags", False)
                and self.method in {"PUT", "PATCH", "DELETE"}
            )
        if status_code == "413":
            return status_code not in responses and self.method in BODY_METHODS | {"DELETE"}
        if status_code == "422":
            return status_code not in responses and self.method == "POST"
        return super()._should_add_error_response(responses, status_code)

    def _should_add_http404_error_response(self) -> bool:
        return super()._should_add_http404_error_response() or "{" in self.path

    def _nested_errors(self, serializer, prefix: str, extra: dict) -> None:
        """Errors DRF raises on a nested serializer itself (null, not an object, not a list),
        which drf-standardized-errors does not enumerate."""
        from rest_framework import serializers as drf

        for name, field in getattr(serializer, "fields", {}).items():
            path = f"{prefix}{name}"
            if isinstance(field, drf.ListSerializer):
                extra.setdefault(path, set()).update(
                    {"null", "not_a_list", "empty", "max_length", "required"}
                )
                self._nested_errors(field.child, f"{path}.INDEX.", extra)
            elif isinstance(field, drf.Serializer):
                extra.setdefault(path, set()).update({"null", "invalid", "required"})
                self._nested_errors(field, f"{path}.", extra)

    def _get_extra_validation_errors(self) -> dict[str, set[str]]:
        extra = dict(super()._get_extra_validation_errors())
        if self.method in BODY_METHODS:
            request_serializer = self.get_request_serializer()
            if request_serializer is not None:
                from drf_spectacular.plumbing import force_instance

                from config.api.serializers import unknown_field_error_paths

                instance = force_instance(request_serializer)
                self._nested_errors(instance, "", extra)
                for path, codes in unknown_field_error_paths(instance).items():
                    extra.setdefault(path, set()).update(codes)
        action = self._action()
        extra.setdefault(UNIX_MS_HEADER, set()).add("invalid")
        if self.method == "POST":
            extra.setdefault("Idempotency-Key", set()).add("invalid")
        if action == "list" or any(
            getattr(param, "name", None) == "limit" for param in self.get_override_parameters()
        ):
            extra.setdefault("limit", set()).update({"invalid", "min_value", "max_value"})
            extra.setdefault("cursor", set()).add("invalid_cursor")
        if action == "list":
            extra.setdefault("KEY", set()).add("unknown_field")  # an unknown query parameter
        if getattr(self.view, "identify_by", None) and "{id}" in self.path:
            extra.setdefault("identify_by", set()).add("invalid")
        if getattr(self.view, "includes_choices", ()) and action in ENVELOPED_ACTIONS | {"list"}:
            extra.setdefault("includes", set()).add("invalid")
        return extra
