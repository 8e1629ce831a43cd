"""The request every tagging entry point takes: one customer, many, the API, admin or command."""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, kw_only=True)
class TagChange:
    """Which tag names to add and remove, how the assignments it creates are stamped, and why.

    Names are matched case-insensitively; unknown names to add are created unless
    ``create_missing`` is false. ``source`` left empty is the entry point's own: "api" for one
    customer, "bulk" for many.
    """

    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    create_missing: bool = True
    source: str = ""
    category: str = ""
    expires_at: datetime | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        # Lists from a request or a form are frozen too: the request is shared by every batch.
        object.__setattr__(self, "add", tuple(self.add))
        object.__setattr__(self, "remove", tuple(self.remove))
