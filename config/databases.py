"""The two databases Tagdesk runs on: the implementation of raw SQL for the one in use, and
creating the configured PostgreSQL database when it does not exist yet (``make run``)."""

import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TypeVar

import psycopg
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model
from psycopg import sql

from config.exceptions import DomainError
from config.fields import ulid_to_uuid

MAINTENANCE_DATABASE = "postgres"
T = TypeVar("T")


def per_database(implementations: Mapping[str, Callable[[], T]]) -> Callable[[], T]:
    """A function returning the implementation for the database of the default connection.

    ``implementations`` maps a connection vendor ("postgresql", "sqlite") to a class with the
    same methods for each; the one for the vendor is made on first use and reused after, so
    code that differs by database is a class per database, chosen once, instead of vendor
    branches inside its functions.
    """
    made: dict[str, T] = {}

    def for_connection() -> T:
        vendor = connection.vendor
        if vendor not in made:
            if vendor not in implementations:
                raise ImproperlyConfigured(
                    f"Tagdesk runs on {' or '.join(sorted(implementations))}, not {vendor}."
                )
            made[vendor] = implementations[vendor]()
        return made[vendor]

    return for_connection


M = TypeVar("M", bound=Model)
# per connection, per (model, field names): the attnames and the converters of each column
_loaders: "weakref.WeakKeyDictionary[BaseDatabaseWrapper, dict]" = weakref.WeakKeyDictionary()


def _loader(db: BaseDatabaseWrapper, model: type[Model], field_names: tuple[str, ...]) -> tuple:
    made = _loaders.setdefault(db, {})
    if (model, field_names) not in made:
        converters = []
        for index, name in enumerate(field_names):
            column = model._meta.get_field(name).get_col(model._meta.db_table)
            if functions := [*db.ops.get_db_converters(column), *column.get_db_converters(db)]:
                converters.append((index, column, functions))
        attnames = [model._meta.get_field(name).attname for name in field_names]
        made[model, field_names] = (attnames, converters)
    return made[model, field_names]


def values_from_rows(
    model: type[Model], field_names: Sequence[str], rows: Iterable[Sequence]
) -> Iterator[list]:
    """The rows of a fixed raw read of these fields' columns, in that order (on the default
    connection), with each value as the ORM loads it: through the converters the ORM applies
    (the database's, then the field's). For a hot read whose query the ORM took longer to
    build than the database to run."""
    db = connections[DEFAULT_DB_ALIAS]
    _, converters = _loader(db, model, tuple(field_names))
    for row in rows:
        values = list(row)
        for index, column, functions in converters:
            for function in functions:
                values[index] = function(values[index], column, db)
        yield values


def instances_from_rows(
    model: type[M], field_names: Sequence[str], rows: Iterable[Sequence]
) -> list[M]:
    """Instances of ``model`` from the rows of a fixed raw read (see ``values_from_rows``), the
    other fields deferred."""
    attnames, _ = _loader(connections[DEFAULT_DB_ALIAS], model, tuple(field_names))
    return [
        model.from_db(DEFAULT_DB_ALIAS, attnames, values)
        for values in values_from_rows(model, field_names, rows)
    ]


class _PostgresIds:
    def one_of(self, column: str, stored: list[str]) -> tuple[str, list]:
        return f"{column} = ANY(%s::uuid[])", ["{" + ",".join(stored) + "}"]


class _SqliteIds:
    def one_of(self, column: str, stored: list[str]) -> tuple[str, list]:
        # hex digits need no escaping in JSON
        return f"{column} IN (SELECT value FROM json_each(%s))", ['["' + '","'.join(stored) + '"]']


_ids = per_database({"postgresql": _PostgresIds, "sqlite": _SqliteIds})


def stored_ids_in(column: str, stored: list[str]) -> tuple[str, list]:
    """A WHERE clause (and its one parameter) for a ULID column being one of ``stored`` (ids
    as the column holds them, text: 32 hex digits, or a UUID's text on PostgreSQL): a
    ``uuid[]`` on PostgreSQL, a JSON array on SQLite (a hundred placeholders cost the driver
    more than the query)."""
    return _ids().one_of(column, stored)


def ulid_column_in(column: str, ids: Iterable[str]) -> tuple[str, list]:
    """``stored_ids_in`` for ULIDs as Python code holds them."""
    return stored_ids_in(column, [ulid_to_uuid(value).hex for value in ids])


class DatabaseUnavailable(DomainError):
    code = "database_unavailable"


def database_create_if_missing(*, alias: str = "default") -> bool:
    """Create the database ``alias`` names when the server lacks it; True when it did.

    Connects to the server's ``postgres`` database with the same credentials, as ``createdb``
    does. Anything but PostgreSQL (SQLite creates its file itself) is left alone. An unreachable
    server or a refused CREATE raise ``DatabaseUnavailable`` with one line saying what to do.
    """
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return False
    return postgresql_database_create_if_missing(connection.get_connection_params())


def postgresql_database_create_if_missing(params: dict) -> bool:
    """The same for psycopg connection parameters (``dbname`` is the database wanted)."""
    name = params["dbname"]
    where = f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}"
    try:
        with psycopg.connect(
            **{**params, "dbname": MAINTENANCE_DATABASE}, autocommit=True, connect_timeout=10
        ) as server:
            if server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                return False
            server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.errors.DuplicateDatabase:
        return False  # created meanwhile by another process
    except psycopg.Error as error:
        reason = " ".join(line.strip() for line in str(error).splitlines()) or repr(error)
        raise DatabaseUnavailable(
            f"Could not create PostgreSQL database {name!r} at {where}: {reason} "
            f"(create it yourself: createdb -h {params.get('host') or 'localhost'} "
            f"-p {params.get('port') or 5432} -U {params.get('user') or 'postgres'} {name})."
        ) from error
    return True
