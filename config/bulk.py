"""Loading many rows at database speed: COPY on PostgreSQL, executemany on SQLite.

For synthetic data and imports only: rows go straight into the table with no model ``save()``
and no signals, so callers write the history rows themselves (``HISTORY_EXTRA`` names the
history table's own columns). What differs between the databases is a loader class per
database, chosen once (``config.databases.per_database``).
"""

import json
import sqlite3
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import islice

from django.db import connection, models

from config.databases import per_database

CHUNK = 20_000


class Loader(ABC):
    """Appends rows to a table; subclasses are the databases' fastest ways of doing it."""

    @abstractmethod
    def load(self, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> int:
        """Append ``rows`` (tuples of Python values in ``columns`` order) to ``table``; table
        and column names come quoted. Returns how many rows were written."""

    @abstractmethod
    def analyze(self) -> None:
        """Bring the query planner up to date after a load."""

    @abstractmethod
    def uuid_value(self, value: uuid.UUID):
        """A UUID as the database's driver takes it for a ULID column."""

    def value(self, value):
        """A Python value in the database's own form for a raw write."""
        if isinstance(value, uuid.UUID):
            return self.uuid_value(value)
        if isinstance(value, datetime):
            return connection.ops.adapt_datetimefield_value(value)
        if isinstance(value, dict | list):
            return json.dumps(value)
        return value


class PostgresLoader(Loader):
    """COPY … FROM STDIN: rows streamed in one command, the fastest load PostgreSQL has."""

    def load(self, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> int:
        written = 0
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([self.value(v) for v in row])
                written += 1
        return written

    def analyze(self) -> None:
        """Fresh statistics for every table: the planner picks its join orders from them."""
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    def uuid_value(self, value: uuid.UUID) -> uuid.UUID:
        return value


class SqliteLoader(Loader):
    """executemany of one INSERT, a chunk of rows at a time (memory stays at one chunk)."""

    def load(self, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> int:
        written = 0
        marks = ", ".join(["%s"] * len(columns))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        iterator = iter(rows)
        with connection.cursor() as cursor:
            while chunk := [tuple(self.value(v) for v in row) for row in islice(iterator, CHUNK)]:
                cursor.executemany(sql, chunk)
                written += len(chunk)
        return written

    def analyze(self) -> None:
        """Nothing: statistics are optional to SQLite's planner (``ANALYZE`` by hand if
        wanted)."""

    def uuid_value(self, value: uuid.UUID) -> str:
        return value.hex


loader = per_database({"postgresql": PostgresLoader, "sqlite": SqliteLoader})


def bulk_load(model: type[models.Model], columns: list[str], rows: Iterable[tuple]) -> int:
    """Append rows (tuples of Python values in ``columns`` order) to the model's table."""
    quote = connection.ops.quote_name
    return loader().load(quote(model._meta.db_table), [quote(c) for c in columns], rows)


def bulk_analyze() -> None:
    """After loading many rows: let the database's planner know about them."""
    loader().analyze()


# The columns simple-history adds after the model's own in a history table.
HISTORY_EXTRA = ["history_date", "history_type", "history_user_id", "history_change_reason"]


def max_query_params() -> int:
    """Parameters one raw statement may carry: PostgreSQL's 65535 (less a margin), SQLite's
    compiled limit (250000 in current builds, 999 in old ones). Django's ORM keeps 999 for
    SQLite, which is why bulk paths use raw statements."""
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        return min(30_000, connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    return 30_000
