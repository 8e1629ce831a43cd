"""Strict JSON for request bodies, and the API's refusal of text the database cannot store.

Python's ``json`` accepts what JSON does not (``NaN``, ``Infinity``, ``1e400`` read as
infinity), keeps the last of duplicate keys, and dies with a RecursionError on deep nesting.
``StrictJSONParser`` refuses all of these with a 400, and refuses a NUL character or an unpaired
surrogate anywhere in the body (PostgreSQL can store neither); ``refuse_unstorable`` refuses
them in the path and the query string. Both use the one check (``config.text``), so a client
never gets a 500 for any of them.
"""

import json
import math
from collections.abc import Iterable

from django.conf import settings
from rest_framework.exceptions import ErrorDetail, ParseError, ValidationError
from rest_framework.parsers import JSONParser

from config.text import is_storable

# Nesting of a whole body; free-form JSON fields have their own, smaller limits (fields.py).
MAX_BODY_DEPTH = 32
UNSTORABLE = "unstorable"
UNSTORABLE_MESSAGE = "Contains a NUL character or an unpaired surrogate, which cannot be stored."


def refuse_unstorable(items: Iterable[tuple[str, str]]) -> None:
    """400 naming the first ``(name, value)`` pair (path argument or query parameter) whose
    name or value cannot be stored."""
    for name, value in items:
        if not is_storable(name):
            raise ValidationError(
                {"non_field_errors": [ErrorDetail(UNSTORABLE_MESSAGE, UNSTORABLE)]}
            )
        if not is_storable(value):
            raise ValidationError({name: [ErrorDetail(UNSTORABLE_MESSAGE, UNSTORABLE)]})


class _Object(dict):
    """A JSON object that remembers the first key it was given twice."""

    duplicate: str | None = None


def _object_from_pairs(pairs: list[tuple[str, object]]) -> _Object:
    obj = _Object()
    for key, value in pairs:
        if key in obj and obj.duplicate is None:
            obj.duplicate = key
        obj[key] = value
    return obj


class _NotFinite(ValueError):
    pass


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text)
    return value


def _parse_constant(name: str):
    raise _NotFinite(name)


def loads_strict(text: str):
    """Parse JSON as the RFC says it is: finite numbers, unique keys, bounded nesting."""
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object_from_pairs,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except _NotFinite as error:
        raise ParseError(f"JSON parse error - numbers must be finite, got {error}.") from None
    except RecursionError:
        raise ParseError(
            f"JSON parse error - nested deeper than {MAX_BODY_DEPTH} levels."
        ) from None
    except ValueError as error:
        raise ParseError(f"JSON parse error - {error}") from None
    _check_tree(value)
    return value


def _check_tree(value) -> None:
    """Depth, duplicate keys and unstorable text, in one walk without recursion."""
    stack: list[tuple[object, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, (dict, list)) and depth >= MAX_BODY_DEPTH:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_BODY_DEPTH} levels.")
        if isinstance(item, str):
            if not is_storable(item):
                raise ValidationError({path or "non_field_errors": [_unstorable()]})
        elif isinstance(item, dict):
            if (duplicate := getattr(item, "duplicate", None)) is not None:
                attr = f"{path}.{duplicate}" if path else duplicate
                detail = ErrorDetail(
                    f"Duplicate key '{duplicate}' in a JSON object.", "duplicate_key"
                )
                raise ValidationError({attr: [detail]})
            for key, child in item.items():
                if not is_storable(key):
                    raise ValidationError({path or "non_field_errors": [_unstorable()]})
                stack.append((child, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(item, list):
            for index, child in enumerate(item):
                stack.append((child, f"{path}.{index}" if path else str(index), depth + 1))


def _unstorable() -> ErrorDetail:
    return ErrorDetail(UNSTORABLE_MESSAGE, UNSTORABLE)


class StrictJSONParser(JSONParser):
    """DRF's JSON parser with ``loads_strict``."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding) if stream is not None else ""
        except UnicodeDecodeError as error:
            raise ParseError(f"JSON parse error - {error}") from None
        return loads_strict(text)
