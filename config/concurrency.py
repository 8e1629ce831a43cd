"""Optimistic concurrency (ETags derived from ``updated_at``, no extra column) and the row
locks a write takes inside its transaction."""

from django.db import connection, models

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


def key_share(model: type[models.Model], pk: str) -> bool:
    """Keep the row from being deleted until this transaction ends; False if it is gone.

    A foreign key would take the same FOR KEY SHARE lock, but only at commit (Django's are
    deferred), where a row deleted meanwhile is an IntegrityError; taken first, a delete
    waits for this transaction (and then sees the row that refers to it) or has already won.
    Shared with any number of writers referring to the same row.
    """
    if connection.vendor != "postgresql":
        return model.objects.filter(pk=pk).exists()  # SQLite: one writer at a time
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {connection.ops.quote_name(model._meta.db_table)} "
            f"WHERE {connection.ops.quote_name(model._meta.pk.column)} = %s FOR KEY SHARE",
            [model._meta.pk.get_db_prep_value(pk, connection)],
        )
        return cursor.fetchone() is not None
