"""Loading many rows at database speed: COPY on PostgreSQL, executemany on SQLite.

For synthetic data and imports only: rows go straight into the table with no model ``save()``
and no signals, so callers write the history rows themselves (``HISTORY_EXTRA`` names the
history table's own columns).
"""

import json
import sqlite3
import uuid
from collections.abc import Iterable
from datetime import datetime
from itertools import islice

from django.db import connection, models

CHUNK = 20_000


def db_value(value):
    """A Python value in the database's own form for a raw write."""
    if isinstance(value, uuid.UUID):
        return value if connection.features.has_native_uuid_field else value.hex
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


def bulk_load(model: type[models.Model], columns: list[str], rows: Iterable[tuple]) -> int:
    """Append rows (tuples of Python values in ``columns`` order) to the model's table."""
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    written = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([db_value(v) for v in row])
                    written += 1
            return written
        sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))})"
        iterator = iter(rows)
        while chunk := [tuple(db_value(v) for v in row) for row in islice(iterator, CHUNK)]:
            cursor.executemany(sql, chunk)
            written += len(chunk)
    return written


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
