"""JSON bodies, refusing text the database cannot store (NUL, lone surrogates) with a 400."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


def find_unstorable(value, path: str = "") -> str | None:
    """Path of the first string (key or value) that PostgreSQL could not store, else None."""
    if isinstance(value, str):
        if "\x00" in value:
            return path or "(body)"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "(body)"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if (found := find_unstorable(key, child)) or (found := find_unstorable(item, child)):
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if found := find_unstorable(item, f"{path}.{index}" if path else str(index)):
                return found
    return None


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if where := find_unstorable(data):
            raise ParseError(
                f"JSON parse error - '{where}' contains a NUL character or an unpaired "
                "surrogate, which cannot be stored."
            )
        return data
