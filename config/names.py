"""What makes two names the same: one rule for tags, segments, statuses and status labels."""


def name_clean(name: str) -> str:
    """The stored form of a name: trimmed, inner runs of white space collapsed to one space."""
    return " ".join(name.split())


def name_key(name: str) -> str:
    """The key a unique constraint holds: " VIP ", "vip" and "Vip" share one."""
    return name_clean(name).casefold()
