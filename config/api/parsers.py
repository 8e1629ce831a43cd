"""Text the database cannot store (NUL, unpaired surrogates) is refused with a 400, never a 500.

DRF's CharField already refuses both; free-form JSON fields and query parameters are checked
with ``find_unstorable``.
"""


def find_unstorable(value, path: str = "") -> str | None:
    """Path of the first string (key or value) that PostgreSQL could not store, else None."""
    if isinstance(value, str):
        if "\x00" in value:
            return path or "(value)"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "(value)"
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
