"""Text the database can store: the one check, for every layer that takes input.

PostgreSQL stores neither a NUL character nor an unpaired surrogate. The API (its parser and
its path and query checks), the admin's list filters and the identifier lookups all refuse such
text with this check, so none of them sends it to the database and gets a 500 back.
"""


def is_storable(text: str) -> bool:
    """False for text holding a NUL character or an unpaired surrogate."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def find_unstorable(value, path: str = "") -> str | None:
    """Path of the first string (key or value) that PostgreSQL could not store, else None."""
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if not is_storable(item):
                return where or "(value)"
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                child_path = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and not is_storable(key):
                    return where or "(value)"
                children.append((child, child_path))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(
                (child, f"{where}.{index}" if where else str(index))
                for index, child in reversed(list(enumerate(item)))
            )
    return None
