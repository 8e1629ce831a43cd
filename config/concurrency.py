"""ETags for optimistic concurrency, derived from ``updated_at`` (no extra column)."""

from django.db import models

from config.exceptions import PreconditionFailed


def etag_for(instance: models.Model) -> str:
    stamp = int(instance.updated_at.timestamp() * 1_000_000)
    return f'"{instance.pk}.{stamp}"'


def parse_if_match(header: str | None) -> list[str] | None:
    """The entity tags of an ``If-Match`` header (weak prefixes dropped), or None if absent."""
    if header is None or not header.strip():
        return None
    return [tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()]


def check_if_match(instance: models.Model, if_match: list[str] | None) -> None:
    """Raise 412 unless ``if_match`` is absent, ``*`` or names the instance's current ETag.

    Call it on a row locked for update inside the write's transaction, so no other writer can
    slip in between the check and the UPDATE.
    """
    if if_match is None or "*" in if_match:
        return
    if etag_for(instance) not in if_match:
        raise PreconditionFailed(
            "The resource changed since you read it (If-Match does not match its ETag); "
            "fetch it again and retry.",
            code="precondition_failed",
        )
