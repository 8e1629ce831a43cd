"""Serializer fields shared by every app's API."""

import json
import re
from datetime import UTC, datetime

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

UNIX_MS_HEADER = "X-Datetime-Format"
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


def max_length_error(limit: int) -> serializers.ErrorDetail:
    """DRF's own ``max_length`` error, for input a view checks outside a serializer."""
    return serializers.ErrorDetail(
        f"Ensure this field has no more than {limit} characters.", "max_length"
    )


def wants_unix_ms(context: dict) -> bool:
    request = context.get("request")
    return bool(request) and request.headers.get(UNIX_MS_HEADER, "").lower() == "unix_ms"


ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"


def api_datetime(value: datetime | None, *, unix_ms: bool) -> str | int | None:
    """A datetime as ``ApiDateTimeField`` writes it: ISO 8601 UTC with milliseconds, or UNIX
    milliseconds."""
    if value is None:
        return None
    if unix_ms:
        return int(value.timestamp() * 1000)
    return value.astimezone(UTC).strftime(ISO_FORMAT)[:-3] + "Z"


@extend_schema_field({"$ref": "#/components/schemas/Timestamp"})  # see config/api/openapi.py
class ApiDateTimeField(serializers.DateTimeField):
    """ISO 8601 UTC with milliseconds, or UNIX ms when the request asks for ``unix_ms``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("format", "%Y-%m-%dT%H:%M:%S.%fZ")
        super().__init__(*args, **kwargs)

    def to_representation(self, value):
        if value is None:
            return None
        if wants_unix_ms(self.context):
            return int(value.timestamp() * 1000)
        text = super().to_representation(value)
        # %f gives microseconds; the API promises milliseconds.
        return text[:-4] + "Z" if isinstance(text, str) and text.endswith("Z") else text


# Free-form JSON objects (customer metadata): bounded so one row cannot carry a document.
JSON_FIELD_MAX_DEPTH = 10
JSON_FIELD_MAX_KEYS = 100
JSON_FIELD_MAX_BYTES = 16 * 1024


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {},
        "maxProperties": JSON_FIELD_MAX_KEYS,
        "description": (
            f"Free-form JSON object: at most {JSON_FIELD_MAX_DEPTH} levels deep, "
            f"{JSON_FIELD_MAX_KEYS} keys per object and {JSON_FIELD_MAX_BYTES // 1024} KB "
            "as compact UTF-8 JSON."
        ),
    }
)
class JsonObjectField(serializers.DictField):
    """A free-form JSON object, bounded in depth, keys per object and serialized size."""

    default_error_messages = {
        "max_depth": f"Nested deeper than {JSON_FIELD_MAX_DEPTH} levels.",
        "max_keys": "An object at '{path}' has more than " + f"{JSON_FIELD_MAX_KEYS} keys.",
        "max_size": f"Larger than {JSON_FIELD_MAX_BYTES} bytes as JSON.",
    }

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        stack = [(value, "", 1)]
        while stack:
            item, path, depth = stack.pop()
            if isinstance(item, dict):
                if len(item) > JSON_FIELD_MAX_KEYS:
                    self.fail("max_keys", path=path or "(top)")
                children = [
                    (child, f"{path}.{key}" if path else key) for key, child in item.items()
                ]
            elif isinstance(item, list):
                children = [
                    (child, f"{path}.{i}" if path else str(i)) for i, child in enumerate(item)
                ]
            else:
                continue
            if depth > JSON_FIELD_MAX_DEPTH:
                self.fail("max_depth")
            stack.extend((child, child_path, depth + 1) for child, child_path in children)
        size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        if size > JSON_FIELD_MAX_BYTES:
            self.fail("max_size")
        return value


class StrictStringMixin:
    """JSON types are kept: a number or boolean where a string is expected is a 400 (DRF would
    quietly turn ``0`` into ``"0"``)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(StrictStringMixin, serializers.CharField):
    pass


class StrictEmailField(StrictStringMixin, serializers.EmailField):
    pass


class StrictBooleanField(serializers.BooleanField):
    """Only JSON ``true``/``false`` (DRF would also take "yes", "1", 1…)."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class DateTimeInputField(serializers.DateTimeField):
    """A datetime sent by a client: any RFC 3339 date-time."""

    def to_internal_value(self, value):
        # Accept every RFC 3339 date-time (lowercase t/z, nanoseconds, a leap second), which
        # DRF's parser would refuse although the schema promises it.
        if isinstance(value, str) and (match := _RFC3339.match(value.strip())):
            date, hour, minute, second, fraction, offset = match.groups()
            second = min(int(second), 59)
            fraction = (fraction or "")[:7]  # "." + at most 6 digits
            offset = "+00:00" if offset in ("Z", "z") else offset
            value = f"{date}T{hour}:{minute}:{second:02d}{fraction}{offset}"
        parsed = super().to_internal_value(value)
        try:
            return parsed.astimezone(UTC)  # PostgreSQL refuses offsets beyond ±15:59
        except OverflowError:
            self.fail("invalid", format="RFC 3339")


# A character that is not whitespace for Python (str.split) nor for the ECMAScript regexes of
# JSON Schema: written out, because Python's \S and ECMAScript's \S disagree on \x1c-\x1f, \x85.
NOT_ONLY_SPACE = (
    "[^\t\n\v\f\r \x1c-\x1f\x85\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
)


class NameField(StrictCharField):
    """A display name: 1–100 characters with at least one that is not a space."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 100)
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)
        self.validators.append(RegexValidator(NOT_ONLY_SPACE, "Must not be blank.", code="blank"))


class CommaSeparatedListField(serializers.Field):
    """A query parameter listing values as ``a,b,c`` (or repeated): each one is checked by
    ``child``, and errors name the parameter itself rather than an index."""

    default_error_messages = {
        "required": "Give at least one value.",
        "max_length": "Give at most {max_items} values.",
    }

    def __init__(self, *, child: serializers.Field, max_items: int, **kwargs):
        self.child = child
        self.max_items = max_items
        super().__init__(**kwargs)

    def get_value(self, dictionary):
        if hasattr(dictionary, "getlist"):
            values = dictionary.getlist(self.field_name)
            return values if values else serializers.empty
        return super().get_value(dictionary)

    def to_internal_value(self, data) -> list:
        raw = data if isinstance(data, list) else [data]
        items = [item.strip() for value in raw for item in str(value).split(",") if item.strip()]
        if not items:
            self.fail("required")
        if len(items) > self.max_items:
            self.fail("max_length", max_items=self.max_items)
        result = []
        for item in items:
            try:
                result.append(self.child.run_validation(item))
            except serializers.ValidationError as error:
                messages = error.detail if isinstance(error.detail, list) else [error.detail]
                raise serializers.ValidationError(
                    [
                        serializers.ErrorDetail(f"'{item[:100]}': {message}", message.code)
                        for message in messages
                    ]
                ) from None
        return result

    def to_representation(self, value):
        return ",".join(value)
