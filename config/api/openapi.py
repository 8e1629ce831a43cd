"""Shared OpenAPI components and the postprocessing that keeps the schema tidy for tools.

One error shape serves every operation: ``ValidationErrorResponse`` (400 with
``type: validation_error``), ``ClientErrorResponse`` (every other 4xx, and a 400 ``parse_error``)
and ``ServerErrorResponse`` (500). Each operation's 400 lists the ``attr``/``code`` pairs it can
answer in its description and in ``x-validation-errors``; the other statuses are shared
``components/responses``. A generated client therefore has three error models, not one per
operation and field.
"""

import copy
import json

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from config.api.filters import (
    LIST_QUERY_ITEM_MAX_LENGTH,
    LIST_QUERY_MAX_ITEMS,
    QUERY_VALUE_MAX_LENGTH,
)
from config.api.pagination import MAX_LIMIT

EXAMPLE_ID = "01jbx6m2qf7d8h4kz9w3n5c0vt"
EXAMPLE_ETAG = '"01jbx6m2qf7d8h4kz9w3n5c0vt.1722781321123456"'
EXAMPLE_TIMESTAMP = "2024-08-04T14:22:01.123Z"

X_DATETIME_FORMAT = {"type": "string", "enum": ["iso", "unix_ms"]}

_ISO_TIMESTAMP = {"type": "string", "format": "date-time", "example": EXAMPLE_TIMESTAMP}
_UNIX_MS = {
    "type": "integer",
    "format": "int64",
    "description": "UNIX milliseconds (`X-Datetime-Format: unix_ms`).",
    "example": 1722781321123,
}

ERROR_ITEM = {
    "type": "object",
    "required": ["code", "detail", "attr"],
    "properties": {
        "code": {
            "type": "string",
            "description": "Stable, machine-readable reason (`required`, `not_found`, …).",
            "example": "required",
        },
        "detail": {
            "type": "string",
            "description": "What went wrong, for a person.",
            "example": "This field is required.",
        },
        "attr": {
            "type": "string",
            "nullable": True,
            "description": "The field, parameter or header at fault (`metadata.info.2.key`); "
            "null when the error is not about one input.",
            "example": "name",
        },
    },
}


def _error_envelope(kind: str, description: str) -> dict:
    return {
        "type": "object",
        "description": description,
        "required": ["type", "errors"],
        "properties": {
            "type": {"type": "string", "enum": [kind]},
            "errors": {
                "type": "array",
                "minItems": 1,
                "items": {"$ref": "#/components/schemas/Error"},
            },
        },
    }


SCHEMAS = {
    "Error": ERROR_ITEM,
    "ValidationErrorResponse": _error_envelope(
        "validation_error", "The input is invalid; each error names the input in `attr`."
    ),
    "ClientErrorResponse": _error_envelope(
        "client_error", "The request cannot be served as sent (auth, state, size, format)."
    ),
    "ServerErrorResponse": _error_envelope("server_error", "An error on our side."),
    "BadRequestResponse": {
        "oneOf": [
            {"$ref": "#/components/schemas/ValidationErrorResponse"},
            {"$ref": "#/components/schemas/ClientErrorResponse"},
        ],
        "discriminator": {
            "propertyName": "type",
            "mapping": {
                "validation_error": "#/components/schemas/ValidationErrorResponse",
                "client_error": "#/components/schemas/ClientErrorResponse",
            },
        },
    },
    "Timestamp": {
        "description": "ISO 8601 UTC with milliseconds, or UNIX milliseconds when the request "
        "sends `X-Datetime-Format: unix_ms`.",
        "oneOf": [_ISO_TIMESTAMP, _UNIX_MS],
    },
    "NullableTimestamp": {
        "description": "A `Timestamp`, or null.",
        "oneOf": [{**_ISO_TIMESTAMP, "nullable": True}, _UNIX_MS],
    },
}

HEADERS = {
    "X-Request-ID": {
        "description": "The request's id (the caller's `X-Request-ID` when it sent a sane one); "
        "it is in every log line about the request.",
        "schema": {"type": "string", "maxLength": 200, "example": "5f0c2d1e9b8a4c7d"},
    },
    "ETag": {
        "description": "The version of the resource; send it back in `If-Match` to write safely.",
        "schema": {"type": "string", "maxLength": 100, "example": EXAMPLE_ETAG},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored response to an earlier request with the "
        "same `Idempotency-Key` (POST only).",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "RateLimit-Limit": {
        "description": "Requests allowed per window for this token (sent when the request was "
        "counted, i.e. once authenticated and permitted, and throttling is on).",
        "schema": {"type": "integer", "format": "int32", "minimum": 0, "example": 3000},
    },
    "RateLimit-Remaining": {
        "description": "Requests left in the current window.",
        "schema": {"type": "integer", "format": "int32", "minimum": 0, "example": 2999},
    },
    "RateLimit-Reset": {
        "description": "Seconds until the window has room again.",
        "schema": {"type": "integer", "format": "int32", "minimum": 0, "example": 60},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "format": "int32", "minimum": 0, "example": 12},
    },
}
_RATE_LIMIT_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


def headers_for(status_code: str, *, method: str | None = None) -> dict:
    """Response headers every response with this status can carry."""
    names = ["X-Request-ID"]
    if status_code[0] in "24":
        names.extend(_RATE_LIMIT_HEADERS)
    if method in (None, "POST") and status_code[0] in "24":
        names.append("Idempotent-Replayed")
    if status_code == "429":
        names.append("Retry-After")
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def _client_error(description: str, code: str, detail: str, status_code: str) -> dict:
    return {
        "description": description,
        "headers": headers_for(status_code),
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/ClientErrorResponse"},
                "example": {
                    "type": "client_error",
                    "errors": [{"code": code, "detail": detail, "attr": None}],
                },
            }
        },
    }


# status → (component name, description, example code, example detail)
_CLIENT_ERRORS = {
    "401": (
        "Unauthorized",
        "No valid credentials: codes `not_authenticated`, `authentication_failed`.",
        "not_authenticated",
        "Authentication credentials were not provided.",
    ),
    "403": (
        "Forbidden",
        "The credentials lack the permission: code `permission_denied`.",
        "permission_denied",
        "You do not have permission to perform this action.",
    ),
    "404": (
        "NotFound",
        "No such resource (a malformed id too): code `not_found`; the status lookup answers "
        "Capillary's `8015` when no customer has the identifier.",
        "not_found",
        "Not found.",
    ),
    "405": (
        "MethodNotAllowed",
        "The path does not take this method: code `method_not_allowed`.",
        "method_not_allowed",
        'Method "PATCH" not allowed.',
    ),
    "406": (
        "NotAcceptable",
        "Only JSON can be produced: code `not_acceptable`.",
        "not_acceptable",
        "Could not satisfy the request Accept header.",
    ),
    "409": (
        "Conflict",
        "The resource's state forbids the request. Codes: `duplicate_name`, `duplicate` (a "
        "taken identifier; `attr` names it), `customer_tag_deleted` (restore the tag first), "
        "`customer_tag_not_deleted`, `customer_tag_merged`, `transition_not_allowed`, "
        "`label_in_use`, `status_in_use`, `default_label`, `idempotency_key_in_flight`.",
        "customer_tag_deleted",
        "Tag 'vip' is deleted; restore it first.",
    ),
    "412": (
        "PreconditionFailed",
        "`If-Match` no longer matches the resource's `ETag`: code `precondition_failed`.",
        "precondition_failed",
        "The resource changed since it was read (If-Match does not match its ETag).",
    ),
    "413": (
        "PayloadTooLarge",
        "The body is over the size limit (1 MB): code `request_too_large`.",
        "request_too_large",
        "Request body is larger than the server accepts.",
    ),
    "415": (
        "UnsupportedMediaType",
        "The body must be `application/json`: code `unsupported_media_type`.",
        "unsupported_media_type",
        'Unsupported media type "text/plain" in request.',
    ),
    "422": (
        "IdempotencyKeyReused",
        "The `Idempotency-Key` was used before with another method, path or body: code "
        "`idempotency_key_reused`.",
        "idempotency_key_reused",
        "This Idempotency-Key was used with a different request (method, path or body).",
    ),
    "429": (
        "TooManyRequests",
        "Over the rate limit: code `throttled`; wait `Retry-After` seconds.",
        "throttled",
        "Request was throttled. Expected available in 12 seconds.",
    ),
}
ERROR_RESPONSES = {status: spec[0] for status, spec in _CLIENT_ERRORS.items()} | {
    "414": "UriTooLong",
    "500": "ServerError",
}
RESPONSES = {
    name: _client_error(description, code, detail, status)
    for status, (name, description, code, detail) in _CLIENT_ERRORS.items()
} | {
    "UriTooLong": {
        "description": "The request line (path and query string) is longer than the web server "
        "takes (gunicorn: 4,094 bytes); answered by the server in front of the API, as HTML.",
        "headers": {},
        "content": {"text/html": {"schema": {"type": "string"}}},
    },
    "ServerError": {
        "description": "A bug on our side (never caused by what a client sends): code `error`.",
        "headers": headers_for("500"),
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/ServerErrorResponse"},
                "example": {
                    "type": "server_error",
                    "errors": [
                        {"code": "error", "detail": "A server error occurred.", "attr": None}
                    ],
                },
            }
        },
    },
}


def location_header(status_code: int | tuple[int, ...], description: str) -> OpenApiParameter:
    """The ``Location`` header of a response (or of each of several, e.g. 201 and 202) that
    points at the resource it made or started."""
    codes = [status_code] if isinstance(status_code, int) else list(status_code)
    return OpenApiParameter(
        "Location",
        OpenApiTypes.STR,
        location=OpenApiParameter.HEADER,
        response=codes,
        description=description,
    )


def comma_separated_schema(pattern: str | None = None, enum: list[str] | None = None) -> dict:
    """The schema of a query parameter holding a list, sent as ``?tags=vip,early_adopter``
    (``style: form``, ``explode: false``); ``pattern`` is what each item must match, ``enum``
    the values it may take."""
    items = {"type": "string", "minLength": 1, "maxLength": LIST_QUERY_ITEM_MAX_LENGTH}
    if pattern:
        items["pattern"] = pattern
    if enum:
        items = {"type": "string", "enum": list(enum)}
    return {"type": "array", "items": items, "maxItems": LIST_QUERY_MAX_ITEMS}


def _attr_label(attr: str) -> str:
    return ".".join("*" if part in ("INDEX", "KEY") else part for part in attr.split("."))


def bad_request_response(
    codes_by_attr: dict[str, set[str]], *, parse_errors: bool, method: str
) -> dict:
    """One operation's 400: the shared schema, and the ``attr``/``code`` pairs it can answer."""
    errors = {_attr_label(attr): sorted(codes) for attr, codes in sorted(codes_by_attr.items())}
    lines = ["Invalid input (`validation_error`); each error's `attr` names the input."]
    if parse_errors:
        lines[0] += (
            " A body that is not JSON, or text the database cannot store (NUL), is a "
            "`client_error` with code `parse_error` and `attr` null."
        )
    if errors:
        lines.append("")
        lines.append("| attr | codes |")
        lines.append("|---|---|")
        lines.extend(
            f"| `{attr}` | {', '.join(f'`{c}`' for c in codes)} |" for attr, codes in errors.items()
        )
        lines.append("")
        lines.append("`*` stands for a list position or an object key.")
    schema = (
        "BadRequestResponse"
        if parse_errors or not errors
        else "ValidationErrorResponse"
        if errors
        else "ClientErrorResponse"
    )
    return {
        "description": "\n".join(lines),
        "headers": headers_for("400", method=method),
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        "x-validation-errors": errors,
    }


# -- postprocessing --------------------------------------------------------------------------

# Examples for request properties whose pattern would otherwise make tools invent a string.
PROPERTY_EXAMPLES = {
    ("CustomerRequest", "reference_id"): "crm-10023",
    ("CustomerRequest", "mobile"): "+593 99 123 4567",
    ("CustomerRequest", "email"): "ada@example.com",
    ("CustomerRequest", "name"): "Ada Lovelace",
    ("TagRequest", "name"): "vip",
    ("TagRequest", "reference_id"): "loyalty-vip",
    ("SegmentRequest", "name"): "Premium Customers",
    ("StatusRequest", "name"): "Suspended",
    ("StatusLabelRequest", "name"): "Fraud review",
    ("StatusLabelRequest", "status"): "Suspended",
    ("StatusChangeRequest", "label"): "Inactive",
    ("StatusChangeRequest", "reason"): "Customer asked to close the account",
    ("CustomerStatusRequest", "label"): "Inactive",
    ("CustomerStatusRequest", "reason"): "Customer asked to close the account",
}
# Free-form JSON objects: they keep additionalProperties.
FREE_FORM = {("CustomerRequest", "metadata"), ("TagHistoryEntry", "changes")}


def _walk(node, visit, path=()):
    if isinstance(node, dict):
        visit(node, path)
        for key, value in list(node.items()):
            _walk(value, visit, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _walk(value, visit, (*path, index))


def _refs(node) -> set[str]:
    """Names of the components ``node`` refers to."""
    found: set[str] = set()

    def visit(child: dict, path) -> None:
        if isinstance(child.get("$ref"), str):
            found.add(child["$ref"].rsplit("/", 1)[-1])

    _walk(node, visit)
    return found


def _ref_name(schema: dict) -> str | None:
    ref = schema.get("$ref") or (
        len(schema.get("allOf", [])) == 1 and schema["allOf"][0].get("$ref")
    )
    return ref.rsplit("/", 1)[-1] if ref else None


def _typed_nullable(result: dict) -> None:
    """OpenAPI 3.0's ``nullable`` only means something next to a ``type``."""
    schemas = result["components"]["schemas"]

    def visit(node: dict, path) -> None:
        if not node.get("nullable") or "type" in node:
            return
        name = _ref_name(node)
        if name == "Timestamp":
            for key in ("allOf", "$ref", "nullable", "readOnly"):
                node.pop(key, None)
            target = {"$ref": "#/components/schemas/NullableTimestamp"}
            if node:  # a description: keep it beside the reference
                node["allOf"] = [target]
            else:
                node.update(target)
            return
        if name and "type" in schemas.get(name, {}):
            node["type"] = schemas[name]["type"]
            return
        branch_types = {b.get("type") for b in node.get("oneOf", []) + node.get("anyOf", [])}
        if len(branch_types) == 1 and None not in branch_types:
            node["type"] = branch_types.pop()

    _walk(result, visit)


def _request_components(result: dict) -> set[str]:
    """Components reachable from request bodies (directly or nested)."""
    schemas = result["components"]["schemas"]
    found: set[str] = set()
    pending = [
        media["schema"]
        for item in result["paths"].values()
        for operation in item.values()
        for media in operation.get("requestBody", {}).get("content", {}).values()
    ]
    while pending:
        for name in _refs(pending.pop()):
            if name not in found and name in schemas:
                found.add(name)
                pending.append(schemas[name])
    return found


def _close_request_bodies(result: dict) -> None:
    """Unknown fields are refused (400), so request objects say ``additionalProperties: false``;
    free-form JSON (``metadata`` of customers) stays open."""
    schemas = result["components"]["schemas"]
    for name in _request_components(result):
        schema = schemas[name]

        def visit(node: dict, path, name=name) -> None:
            if node.get("type") != "object" or "properties" not in node:
                return
            node.setdefault("additionalProperties", False)

        _walk(schema, visit)
        for prop, value in schema.get("properties", {}).items():
            if "default" in value:
                # Generators (openapi-typescript) would make a defaulted field required.
                default = json.dumps(value.pop("default"))
                value["description"] = (
                    f"{value.get('description', '').rstrip('.')}. Default: `{default}`."
                ).lstrip(". ")
            if (name, prop) in PROPERTY_EXAMPLES and "example" not in value:
                value["example"] = PROPERTY_EXAMPLES[(name, prop)]
            if (name, prop) in FREE_FORM and isinstance(value.get("additionalProperties"), dict):
                value.setdefault("maxProperties", 1000)


def _bound_inputs(result: dict) -> None:
    """Every input string has an explicit bound (OWASP API4) that the server enforces."""
    schemas = result["components"]["schemas"]

    def visit(node: dict, path) -> None:
        kind = node.get("type")
        branches = node.get("oneOf", []) + node.get("anyOf", [])
        if branches and all("maxLength" in branch for branch in branches):
            node.setdefault("maxLength", max(branch["maxLength"] for branch in branches))
        elif kind == "string" and not {"maxLength", "enum", "const"} & node.keys():
            # Only strings that must match a format (a date…) are left: longer ones are
            # refused by that format anyway.
            node["maxLength"] = 100

    for name in _request_components(result):
        _walk(schemas[name], visit)

    def visit_query(node: dict, path) -> None:
        if node.get("type") == "string" and not {"maxLength", "enum"} & node.keys():
            node["maxLength"] = QUERY_VALUE_MAX_LENGTH

    for item in result["paths"].values():
        for operation in item.values():
            for param in operation.get("parameters", []):
                if param["in"] == "query":
                    _walk(param["schema"], visit_query)


def _prune_unused(result: dict) -> None:
    """Drop schema components nothing refers to (a read-only nested serializer is resolved for
    requests too, then left out of them)."""
    schemas = result["components"]["schemas"]
    while True:
        refs = _refs(result)
        unused = [name for name in schemas if name not in refs]
        if not unused:
            return
        for name in unused:
            del schemas[name]


def _envelope_key(result: dict, response: dict) -> str | None:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    name = _ref_name(schema)
    component = result["components"]["schemas"].get(name or "", {})
    required = component.get("required", [])
    return required[0] if len(required) == 1 and name.endswith("Envelope") else None


def _link(operation_id: str, parameters: dict) -> dict:
    return {"operationId": operation_id, "parameters": parameters}


def _add_links(result: dict) -> None:
    """OpenAPI links from a created (or deleted) object to what can be done with it next, so
    tools (and stateful fuzzing) can follow create → get/tag/restore/count…"""
    paths = result["paths"]
    for path, item in paths.items():
        for method, operation in item.items():
            for status_code in ("201", "200"):
                response = operation["responses"].get(status_code)
                if not response or "$ref" in response:
                    continue
                key = _envelope_key(result, response)
                creates = method == "post" and status_code == "201"
                deletes = method == "delete" and status_code == "200"
                if not key or not (creates or deletes):
                    continue
                base = path if creates else path.rsplit("/", 1)[0] + "/"
                object_id = {"id": f"$response.body#/{key}/id"}
                links = {}
                for other_path, other_item in paths.items():
                    if not other_path.startswith(base + "{id}"):
                        continue
                    for other in other_item.values():
                        if deletes and not other["operationId"].endswith("_restore"):
                            continue
                        required = {
                            p["name"] for p in other.get("parameters", []) if p.get("required")
                        }
                        if required <= {"id"}:
                            links[_camel_name(other["operationId"])] = _link(
                                other["operationId"], object_id
                            )
                if creates and key == "customer":
                    links["CustomerStatusSetByLookup"] = _link(
                        "customer_status_set_by_lookup",
                        {
                            "source": "API",
                            "identifierName": "id",
                            "identifierValue": f"$response.body#/{key}/id",
                        },
                    )
                if links:
                    response["links"] = dict(sorted(links.items()))


def _camel_name(operation_id: str) -> str:
    return "".join(part.capitalize() for part in operation_id.split("_"))


def postprocess_schema(result: dict, generator, request, public) -> dict:
    """Shared components in, per-operation noise out (see the module docstring)."""
    components = result.setdefault("components", {})
    components.setdefault("schemas", {}).update(copy.deepcopy(SCHEMAS))
    components["responses"] = copy.deepcopy(RESPONSES)
    components["headers"] = copy.deepcopy(HEADERS)
    _typed_nullable(result)
    _close_request_bodies(result)
    _bound_inputs(result)
    for item in result["paths"].values():
        for operation in item.values():
            for param in operation.get("parameters", []):
                if param.get("name") == "limit":
                    param["schema"]["maximum"] = MAX_LIMIT
    _add_links(result)
    _prune_unused(result)
    result["components"] = {
        key: dict(sorted(value.items())) if isinstance(value, dict) else value
        for key, value in sorted(components.items())
    }
    return result
