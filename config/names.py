"""What makes two names the same: one rule for tags, segments, statuses and status labels."""


def name_clean(name: str) -> str:
    """The stored form of a name: trimmed, inner runs of white space collapsed to one space."""
    return " ".join(name.split())


def name_key(name: str) -> str:
    """The key a unique constraint holds: " VIP ", "vip" and "Vip" share one."""
    return name_clean(name).casefold()


class NamedModelMixin:
    """For a model with ``name`` and its unique ``name_key``: every save stores the clean name
    and its key, whichever path saves it (services, admin, fixtures)."""

    name: str
    name_key: str

    def save(self, *args, **kwargs) -> None:
        self.name = name_clean(self.name)
        self.name_key = name_key(self.name)
        super().save(*args, **kwargs)  # type: ignore[misc]
