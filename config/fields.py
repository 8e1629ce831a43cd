"""ULID primary keys stored as native UUIDs.

A ULID is 128 bits, like a UUID, and sorts by creation time. Storing it in the UUID column type
(16 bytes on PostgreSQL, 32 hex chars on SQLite) keeps indexes and foreign keys small on tables
with millions of rows, while Python code and the API only ever see the 26-character lowercase
ULID string.
"""

import uuid
from functools import lru_cache

from django.core import exceptions
from django.db import models
from ulid import ULID

# A ULID as text: 26 characters of Crockford's base32 (any case), the first at most 7.
ULID_PATTERN = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"


def new_ulid() -> str:
    return str(ULID()).lower()


# Crockford's base32, as ULIDs are written (lowercase on output), and a table turning each of
# its characters (either case) into the digit Python's ``int(…, 32)`` reads: converting the
# ids of a page of rows must cost microseconds, not the python-ulid objects' tens of them.
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
_TO_INT32 = str.maketrans(_CROCKFORD + _CROCKFORD.upper(), "0123456789abcdefghijklmnopqrstuv" * 2)
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]  # 10 bits → two characters
_ULID_TEXT = set(_CROCKFORD + _CROCKFORD.upper())


def _ulid_int(value: str) -> int | None:
    """The 128 bits of a 26-character ULID string (any case), or None if it is not one."""
    if len(value) != 26 or value[0] not in "01234567" or not _ULID_TEXT.issuperset(value):
        return None
    return int(value.translate(_TO_INT32), 32)


def _ulid_text(number: int) -> str:
    pairs = _PAIRS
    return (
        _CROCKFORD[number >> 125]
        + "".join([pairs[(number >> shift) & 1023] for shift in range(115, 0, -10)])
        + _CROCKFORD[number & 31]
    )


def parse_ulid(value: object) -> str | None:
    """Normalise a ULID given as a string (any case), ULID or UUID; ``None`` if it is not one."""
    if isinstance(value, str):
        number = _ulid_int(value)
        return None if number is None else value.lower()
    if isinstance(value, uuid.UUID):
        return uuid_to_ulid(value)
    if isinstance(value, ULID):
        return str(value).lower()
    return None


def ulid_to_uuid(value: str) -> uuid.UUID:
    """The UUID a ULID is stored as (the same 128 bits), for raw SQL and bulk loads."""
    number = _ulid_int(value)
    if number is None:
        raise ValueError(f"Not a ULID (26 characters of Crockford's base32): {value!r}")
    return uuid.UUID(int=number)


def uuid_to_ulid(value: uuid.UUID) -> str:
    """The ULID string of a stored UUID: what Python code and the API see."""
    return _ulid_text(value.int)


@lru_cache(maxsize=16_384)
def _ulid_from_db(value: uuid.UUID | str) -> str:
    """``from_db_value``'s conversion, remembered for the ids a process keeps reading (a page's
    tags, its customers): a pure function of the stored value, so nothing can go stale."""
    return _ulid_text(value.int if isinstance(value, uuid.UUID) else uuid.UUID(value).int)


class StoredId(str):
    """A ULID as its column holds it, written as text: the uuid's text on PostgreSQL, 32 hex
    digits on SQLite.

    Bulk paths read ids in this form (``CAST(id AS text)``: no conversion per row in Python)
    and hand them straight back to SQL. Being a type of its own, it tells code that also takes
    ULID strings which form it was given, with no guess from a string's length; the ORM takes
    it as a primary key value as well.
    """

    __slots__ = ()


def uuid_from_db(value: uuid.UUID | str) -> uuid.UUID:
    """A ULID column's value as a raw cursor returns it, as a UUID: PostgreSQL's driver returns
    UUIDs, SQLite the 32 hex characters the column stores."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(hex=value)


class ULIDField(models.Field):
    description = "ULID (stored as a UUID)"
    empty_strings_allowed = False

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 26)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("max_length", None)
        return name, path, args, kwargs

    def get_internal_type(self) -> str:
        return "UUIDField"

    def to_python(self, value):
        if value is None or value == "":
            return None
        parsed = parse_ulid(value)
        if parsed is None:
            if isinstance(value, str) and len(value) in (32, 36):
                try:
                    return parse_ulid(uuid.UUID(value))
                except ValueError:
                    pass
            raise exceptions.ValidationError(
                "'%(value)s' is not a valid ULID.", code="invalid", params={"value": value}
            )
        return parsed

    def get_prep_value(self, value):
        """Validate when a lookup is built, not when its SQL is compiled: ``filter(id="x")``
        raises ValidationError where callers (the admin's list filters, ``get_object``)
        catch it, instead of later while the page renders."""
        value = super().get_prep_value(value)
        if value is None or hasattr(value, "resolve_expression"):
            return value
        return self.to_python(value)

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return _ulid_from_db(value)

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None:
            return None
        if hasattr(value, "resolve_expression"):
            return value
        if connection.features.has_native_uuid_field:
            return ulid_to_uuid(self.to_python(value))
        return f"{_ulid_int(self.to_python(value)):032x}"  # uuid.hex, without the object

    def formfield(self, **kwargs):
        from django import forms

        return super().formfield(**{"form_class": forms.CharField, "max_length": 26, **kwargs})
