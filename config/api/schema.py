"""OpenAPI generation that knows the API conventions, so views do not repeat them.

Errors are documented with shared components (``config.api.openapi``): every operation's 400
response points at the one validation-error schema and lists, in its description and in
``x-validation-errors``, the ``attr``/``code`` pairs that drf-standardized-errors computes for it.
"""

import re

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent, force_instance
from drf_spectacular.utils import OpenApiParameter
from drf_standardized_errors.openapi import AutoSchema as StandardizedErrorsAutoSchema
from rest_framework import serializers as drf

from config.api import openapi
from config.api.fields import UNIX_MS_HEADER
from config.api.filters import LIST_QUERY_MAX_ITEMS, QUERY_VALUE_MAX_LENGTH
from config.api.idempotency import KEY_PATTERN
from config.api.pagination import MAX_LIMIT
from config.api.serializers import unknown_field_error_paths

ENVELOPED_ACTIONS = {"retrieve", "create", "update", "partial_update", "destroy"}
BODY_METHODS = {"POST", "PUT", "PATCH"}
# drf-spectacular's action names → the verb of our operation ids and summaries.
CRUD_VERBS = {
    "list": "list",
    "create": "create",
    "retrieve": "get",
    "update": "replace",
    "partial_update": "update",
    "destroy": "delete",
}
CRUD_SUMMARIES = {
    "list": "List {plural}",
    "create": "Create a {singular}",
    "retrieve": "Get a {singular}",
    "update": "Replace a {singular}",
    "partial_update": "Update a {singular}",
    "destroy": "Delete a {singular}",
}
CRUD_DESCRIPTIONS = {
    "list": "A cursor page of {plural} in creation order; follow `next` for the rest.",
    "create": "Creates a {singular} and answers it with its `ETag` when the resource has one.",
    "retrieve": "One {singular}; `{{id}}` may be another identifier with `identify_by`.",
    "update": "Replaces the {singular}'s writable fields (omitted optional fields keep their "
    "defaults).",
    "partial_update": "Changes only the fields sent.",
    "destroy": "Deletes the {singular}.",
}

# Filters that take several values, comma-separated (what the server parses).
COMMA_SEPARATED_FILTERS = {"tags", "tags_any", "tags_none", "types"}
# Serializers whose component name would clash once "Request" is no longer doubled.
RENAMED_SERIALIZERS = {"CustomerStatusRequestSerializer": "CustomerStatusChangeRequestSerializer"}


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[_.\s]+", name))


class AutoSchema(StandardizedErrorsAutoSchema):
    # -- names -------------------------------------------------------------------------------

    def _action(self) -> str | None:
        return getattr(self.view, "action", None)

    def _resource(self) -> str:
        """The singular resource name operation ids start with (``customer``, ``tag``…)."""
        return getattr(self.view, "operation_prefix", None) or getattr(
            self.view, "envelope", "result"
        )

    def _singular(self) -> str:
        return getattr(self.view, "envelope", "result").replace("_", " ")

    def _plural(self) -> str:
        return getattr(self.view, "envelope_plural", "results").replace("_", " ")

    def get_operation_id(self) -> str:
        action = self._action()
        if action in CRUD_VERBS:
            return f"{self._resource()}_{CRUD_VERBS[action]}"
        return super().get_operation_id()

    def get_summary(self) -> str | None:
        action = self._action()
        if action in CRUD_SUMMARIES:
            return CRUD_SUMMARIES[action].format(singular=self._singular(), plural=self._plural())
        return super().get_summary()

    def get_description(self) -> str:
        """The action's own docstring, never a base class's or the viewset's internal notes."""
        action = self._action()
        if action in CRUD_DESCRIPTIONS:
            return CRUD_DESCRIPTIONS[action].format(
                singular=self._singular(), plural=self._plural()
            )
        method = getattr(self.view, action or "", None)
        return (method.__doc__ or "").strip() if method is not None else ""

    def get_tags(self) -> list[str]:
        return [getattr(self.view, "envelope_plural", None) or super().get_tags()[0]]

    def get_serializer_name(self, serializer, direction) -> str:
        name = super().get_serializer_name(serializer, direction)
        name = RENAMED_SERIALIZERS.get(name, name)
        # COMPONENT_SPLIT_REQUEST appends "Request": CustomerTagRequest, not …RequestRequest.
        if direction == "request" and name.endswith("RequestSerializer"):
            return name[: -len("RequestSerializer")] + "Serializer"
        return name

    def _component(self, name: str, schema: dict) -> dict:
        component = ResolvedComponent(
            name=name, type=ResolvedComponent.SCHEMA, schema=schema, object=name
        )
        self.registry.register_on_missing(component)
        return self.registry[component].ref

    # -- parameters --------------------------------------------------------------------------

    def get_override_parameters(self):
        params = list(super().get_override_parameters())
        params.append(
            OpenApiParameter(
                UNIX_MS_HEADER,
                self._component("XDatetimeFormat", openapi.X_DATETIME_FORMAT),
                OpenApiParameter.HEADER,
                description="`unix_ms` renders every datetime as integer UNIX milliseconds.",
            )
        )
        identify_by = getattr(self.view, "identify_by", None)
        if "{id}" in self.path:
            # A list-level action's path (…/bulk_tag, …/lookup/status) cannot be an {id}: the
            # router tells each view those of every viewset on its prefix.
            reserved = sorted(
                {
                    *getattr(self.view, "reserved_ids", ()),
                    *(
                        action.url_path.split("/")[0]
                        for action in self.view.get_extra_actions()
                        if not action.detail
                    ),
                }
            )
            pattern = (
                f"^(?!(?:{'|'.join(map(re.escape, reserved))})$)[^/]+$" if reserved else "^[^/]+$"
            )
            params.append(
                OpenApiParameter(
                    "id",
                    {
                        "type": "string",
                        "pattern": pattern,
                        "maxLength": 254,
                        "example": openapi.EXAMPLE_ID,
                    },
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
            choices = list(identify_by)
            name = "IdentifyBy" if choices == ["id"] else f"{_camel(self._resource())}IdentifyBy"
            params.append(
                OpenApiParameter(
                    "identify_by",
                    self._component(name, {"type": "string", "enum": choices}),
                    description="Which identifier `{id}` is (default `id`).",
                )
            )
        choices = getattr(self.view, "includes_choices", ())
        if choices and self._action() in ENVELOPED_ACTIONS | {"list", "restore"}:
            item = self._component(
                f"{_camel(self._resource())}Include", {"type": "string", "enum": list(choices)}
            )
            params.append(
                OpenApiParameter(
                    "includes",
                    {"type": "array", "items": item, "maxItems": LIST_QUERY_MAX_ITEMS},
                    style="form",
                    explode=False,
                    description="Optional relations to add to the response, comma-separated "
                    "(repeating the parameter works too).",
                )
            )
        if self.method == "POST":
            params.append(
                OpenApiParameter(
                    "Idempotency-Key",
                    {
                        "type": "string",
                        "pattern": KEY_PATTERN,
                        "maxLength": 255,
                        "example": "7f9c2ba4-e88f-4d11-9a5c-2f1d3b6e0c41",
                    },
                    OpenApiParameter.HEADER,
                    description="Retry-safe POST: the same key and body within 24 h replays the "
                    "first response (`Idempotent-Replayed: true`); another body → 422; "
                    "still running → 409.",
                )
            )
        if self._checks_if_match():
            params.append(
                OpenApiParameter(
                    "If-Match",
                    {"type": "string", "maxLength": 1000, "example": openapi.EXAMPLE_ETAG},
                    OpenApiParameter.HEADER,
                    description="The ETag you read; the write fails with 412 if it changed.",
                )
            )
        return params

    def _get_pagination_parameters(self):
        params = super()._get_pagination_parameters()
        for param in params:
            if param["name"] == "limit":
                param["schema"] = {"type": "integer", "format": "int32", "minimum": 1}
                param["schema"]["maximum"] = MAX_LIMIT
                param["description"] = f"Items per page, 1–{MAX_LIMIT} (default 50)."
            elif param["name"] == "cursor":
                param["schema"] = {"type": "string", "maxLength": 1000}
        return params

    def _get_filter_parameters(self):
        params = super()._get_filter_parameters()
        filterset_class = getattr(self.view, "filterset_class", None)
        filters = filterset_class.base_filters if filterset_class else {}
        for param in params:
            declared = filters.get(param["name"])
            max_length = declared.extra.get("max_length") if declared is not None else None
            if max_length and param["schema"].get("type") == "string":
                # the filter's own bound, within the bound on every query value
                param["schema"]["maxLength"] = min(max_length, QUERY_VALUE_MAX_LENGTH)
            # what else a filter says of its values (a pattern, an example): ``schema_extra``
            param["schema"].update(getattr(declared, "schema_extra", {}))
            if param["name"] in COMMA_SEPARATED_FILTERS:
                # a filter may name the values each item may take (``item_choices``)
                param.update(
                    schema=openapi.comma_separated_schema(
                        enum=getattr(declared, "item_choices", None)
                    ),
                    style="form",
                    explode=False,
                )
            elif param["name"] == "ordering":
                fields = list(getattr(self.view, "ordering_fields", ()) or ())
                param["schema"] = self._component(
                    f"{_camel(self._resource())}Ordering",
                    {
                        "type": "string",
                        "enum": [value for f in fields for value in (f, f"-{f}")],
                    },
                )
                param["description"] = "Sort by this field; `-` first for descending."
        return params

    # -- bodies ------------------------------------------------------------------------------

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if isinstance(field, drf.ListSerializer | drf.ManyRelatedField) and (
            schema.get("type") == "array"
        ):
            if getattr(field, "max_length", None) is not None:
                schema.setdefault("maxItems", field.max_length)
            if getattr(field, "min_length", None) is not None:
                schema.setdefault("minItems", field.min_length)
        return schema

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        includable = getattr(serializer, "includable", {})
        if direction == "response" and includable and "required" in schema:
            # present only when asked for with ?includes=
            schema["required"] = [f for f in schema["required"] if f not in includable.values()]
        if (
            direction == "request"
            and self.method != "PATCH"  # a partial update may leave every group out
            and (groups := getattr(serializer, "schema_any_of_required", None))
        ):
            schema_nonempty = getattr(serializer, "schema_any_of_nonempty", False)

            def nonempty(name: str) -> dict:
                if not schema_nonempty:
                    return {}
                field = serializer.fields[name]
                if isinstance(field, drf.ListField | drf.ListSerializer | drf.ManyRelatedField):
                    return {"minItems": 1}
                # present, not null, not blank (and as long as the field itself allows)
                bound = (
                    {"maxLength": field.max_length} if getattr(field, "max_length", None) else {}
                )
                return {"type": "string", "minLength": 1, **bound}

            # Under allOf, so generated clients keep one model with every property (a
            # top-level anyOf makes them generate one partial model per branch).
            branches = []
            for group in groups:
                branch = {"required": list(group)}
                if properties := {f: nonempty(f) for f in group if nonempty(f)}:
                    branch["properties"] = properties
                branches.append(branch)
            schema["allOf"] = [{"anyOf": branches}]
        return schema

    def _get_request_body(self, direction="request"):
        body = super()._get_request_body(direction)
        serializer = self.get_request_serializer()
        if body and getattr(force_instance(serializer), "schema_any_of_required", None):
            body["required"] = True
        return body

    def _get_paginator(self):
        paginator = super()._get_paginator()
        if paginator is not None and getattr(self.view, "envelope_plural", None):
            paginator.envelope = self.view.envelope_plural
        return paginator

    def _checks_if_match(self) -> bool:
        """The resource's own writes (not actions such as tagging) honour ``If-Match``."""
        return getattr(self.view, "use_etags", False) and self._action() in {
            "update",
            "partial_update",
            "destroy",
        }

    def _is_enveloped(self) -> bool:
        return self._action() in ENVELOPED_ACTIONS | set(
            getattr(self.view, "enveloped_actions", ())
        )

    def _get_response_for_code(
        self, serializer, status_code, media_types=None, direction="response"
    ):
        response = super()._get_response_for_code(serializer, status_code, media_types, direction)
        envelope = getattr(self.view, "envelope", None)
        if (
            envelope
            and self._is_enveloped()
            and str(status_code).startswith("2")
            and "content" in response
        ):
            for media in response["content"].values():
                inner = media["schema"]
                name = inner["$ref"].rsplit("/", 1)[-1] if "$ref" in inner else _camel(envelope)
                media["schema"] = self._component(
                    f"{name}Envelope",
                    {"type": "object", "required": [envelope], "properties": {envelope: inner}},
                )
        return response

    def _get_response_headers_for_code(self, status_code, direction="response") -> dict:
        headers = super()._get_response_headers_for_code(status_code, direction)
        status_code = str(status_code)
        headers.update(openapi.headers_for(status_code, method=self.method))
        if (
            status_code.startswith("2")
            and getattr(self.view, "use_etags", False)
            and self._is_enveloped()
            and status_code != "204"
        ):
            headers["ETag"] = {"$ref": "#/components/headers/ETag"}
        return headers

    # -- errors ------------------------------------------------------------------------------

    def _get_response_bodies(self, direction="response") -> dict:
        responses = SpectacularAutoSchema._get_response_bodies(self, direction)
        if direction != "response":
            return responses
        responses.setdefault("414", {"$ref": "#/components/responses/UriTooLong"})
        for status_code, response in responses.items():
            if "$ref" not in response and "headers" not in response:
                response["headers"] = self._get_response_headers_for_code(status_code, direction)
        errors = {}
        for status_code in self._get_allowed_error_status_codes():
            if self._should_add_error_response(responses, status_code):
                errors[status_code] = self._error_response(status_code)
        return {**errors, **responses}

    def _error_response(self, status_code: str) -> dict:
        if status_code != "400":
            return {"$ref": f"#/components/responses/{openapi.ERROR_RESPONSES[status_code]}"}
        codes_by_attr: dict[str, set[str]] = {}
        if self._should_add_validation_error_response():
            fields = self._determine_fields_with_error_codes()
            codes_by_attr = self._get_validation_error_codes_by_field(fields)
        return openapi.bad_request_response(
            codes_by_attr,
            parse_errors=self._should_add_parse_error_response(),
            method=self.method,
        )

    def _should_add_error_response(self, responses: dict, status_code: str) -> bool:
        if status_code in responses:
            return False
        if status_code == "409":
            return self._action() in getattr(self.view, "conflict_actions", ())
        if status_code == "412":
            return self._checks_if_match()
        if status_code == "413":
            return self.method in BODY_METHODS | {"DELETE"}
        if status_code == "422":
            return self.method == "POST"
        return super()._should_add_error_response(responses, status_code)

    def _should_add_http404_error_response(self) -> bool:
        return super()._should_add_http404_error_response() or "{" in self.path

    def _nested_errors(self, serializer, prefix: str, extra: dict) -> None:
        """Errors DRF raises on a nested serializer itself (null, not an object, not a list),
        which drf-standardized-errors does not enumerate."""
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
                instance = force_instance(request_serializer)
                self._nested_errors(instance, "", extra)
                for path, codes in unknown_field_error_paths(instance).items():
                    extra.setdefault(path, set()).update(codes)
        action = self._action()
        for param in self._get_parameters():
            if param["in"] == "query":
                extra.setdefault(param["name"], set()).add("max_length")
                if param["name"] == "ordering":
                    extra[param["name"]].add("invalid")
        extra.setdefault(UNIX_MS_HEADER, set()).add("invalid")
        if self.method == "POST":
            extra.setdefault("Idempotency-Key", set()).add("invalid")
        if action == "list" or self._is_sublist():
            extra.setdefault("limit", set()).update({"invalid", "min_value", "max_value"})
            extra.setdefault("cursor", set()).add("invalid_cursor")
        if action == "list":
            extra.setdefault("KEY", set()).add("unknown_field")  # an unknown query parameter
        if getattr(self.view, "identify_by", None) and "{id}" in self.path:
            extra.setdefault("identify_by", set()).add("invalid")
        if getattr(self.view, "includes_choices", ()) and (
            action in ENVELOPED_ACTIONS | {"list", "restore"}
        ):
            extra.setdefault("includes", set()).add("invalid")
        return extra

    def _is_sublist(self) -> bool:
        """An action answering a cursor page of its own (history, members…)."""
        return any(
            param.name == "limit"
            for param in self.get_override_parameters()
            if isinstance(param, OpenApiParameter)
        )
