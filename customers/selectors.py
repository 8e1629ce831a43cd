"""Reads on customers that are more than a one-liner."""

from collections.abc import Callable, Iterable, Iterator, Mapping

from django.db import connection
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast

from config.databases import instances_from_rows
from config.fields import StoredId, parse_ulid
from config.text import find_unstorable
from customers.identifiers import is_reference_id, normalize_email, normalize_mobile
from customers.models import Customer

# identify_by → (model field, normaliser returning None for a value that cannot match)
IDENTIFIERS: dict[str, tuple[str, Callable[[str], str | None]]] = {
    "id": ("id", parse_ulid),
    "reference_id": ("reference_id", lambda v: v if is_reference_id(v) else None),
    "email": ("email", normalize_email),
    "mobile": ("mobile", normalize_mobile),
}


def customer_to_change(lookup: Mapping[str, str]) -> Customer | None:
    """The customer one identifier names (``{field: value}``, a field of ``IDENTIFIERS``, all
    unique), with its id and status label only: what a change of its tags needs. Fixed SQL on
    the tag call's path, where the ORM took longer to build this read than to run it."""
    ((name, value),) = lookup.items()
    field = Customer._meta.get_field(name)
    quote = connection.ops.quote_name
    label = Customer._meta.get_field("status_label")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {quote(Customer._meta.pk.column)}, {quote(label.column)} "
            f"FROM {quote(Customer._meta.db_table)} WHERE {quote(field.column)} = %s",
            [field.get_db_prep_value(value, connection, prepared=False)],
        )
        found = instances_from_rows(Customer, ["id", "status_label"], cursor.fetchall())
    return found[0] if found else None


def customers_resolve(
    *, identifiers: list[str], identify_by: str = "id", batch_size: int = 900
) -> tuple[list[str], list[str]]:
    """Customer ids for the given identifiers (in order, deduplicated) and the ones unmatched.

    One query per batch, whatever the number of identifiers.
    """
    field, normalise = IDENTIFIERS[identify_by]
    normalised = {raw: None if find_unstorable(raw) else normalise(raw) for raw in identifiers}
    wanted = [v for v in dict.fromkeys(normalised.values()) if v]
    found: dict[str, str] = {}
    for start in range(0, len(wanted), batch_size):
        batch = wanted[start : start + batch_size]
        found.update(Customer.objects.filter(**{f"{field}__in": batch}).values_list(field, "id"))
    ids = list(dict.fromkeys(found[v] for v in normalised.values() if v in found))
    unknown = [raw for raw, v in normalised.items() if v not in found]
    return ids, unknown


def customer_id_batches(queryset: QuerySet, *, batch_size: int = 5000) -> Iterator[list[StoredId]]:
    """The ids of the customers a queryset selects, in id order, a batch at a time.

    Keyset-paged (``id > last``), so memory stays at one batch for any number of customers and
    a change that moves customers out of the selection (removing the very tag it selects on)
    neither skips nor repeats any. Ids come as the database holds them (``StoredId``), the
    form the set-based writes take, without a conversion per row.
    """
    last = None
    while True:
        page = queryset.order_by("pk")
        if last is not None:
            page = page.filter(pk__gt=last)
        stored = page.annotate(stored_id=Cast("pk", TextField())).values("stored_id")
        sql, params = stored.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"{sql} LIMIT {int(batch_size)}", params)
            ids = [StoredId(row[0]) for row in cursor.fetchall()]
        if not ids:
            return
        yield ids
        if len(ids) < batch_size:
            return
        last = ids[-1]


def customer_id_batches_from(
    identifiers: Iterable[str],
    *,
    identify_by: str = "id",
    batch_size: int = 5000,
    on_unknown: Callable[[list[str]], None] | None = None,
) -> Iterator[list[str]]:
    """Customer ids for a stream of identifiers (a file, read line by line), a batch at a time;
    identifiers that match nobody go to ``on_unknown``. Memory stays at one batch."""
    batch: list[str] = []
    for identifier in identifiers:
        batch.append(identifier)
        if len(batch) >= batch_size:
            yield from _resolved(batch, identify_by, on_unknown)
            batch = []
    if batch:
        yield from _resolved(batch, identify_by, on_unknown)


def _resolved(batch: list[str], identify_by: str, on_unknown) -> Iterator[list[str]]:
    ids, unknown = customers_resolve(identifiers=batch, identify_by=identify_by)
    if unknown and on_unknown is not None:
        on_unknown(unknown)
    if ids:
        yield ids
