"""ETags for optimistic concurrency, derived from ``updated_at`` (no extra column)."""

from django.db import models

from config.exceptions import NotFound, PreconditionFailed


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


def locked_for_write(
    model: type[models.Model], pk: str, if_match: list[str] | None = None, *, no_key: bool = True
) -> models.Model:
    """The row, locked until the caller's transaction ends, after the ``If-Match`` check.

    ``no_key`` (FOR NO KEY UPDATE) for changes, which leave rows referring to this one alone;
    FOR UPDATE for deletes. A row deleted by a writer that held the lock first is a 404, as
    if the request had come a moment later.
    """
    locked = model.objects.select_for_update(no_key=no_key).filter(pk=pk).first()
    if locked is None:
        raise NotFound(f"The {model._meta.verbose_name} was deleted meanwhile.")
    check_if_match(locked, if_match)
    return locked
