"""Creating the configured PostgreSQL database when it does not exist yet (``make run``)."""

import psycopg
from django.db import connections
from psycopg import sql

from config.exceptions import DomainError

MAINTENANCE_DATABASE = "postgres"


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
