"""The feed's position column: the id of the transaction that wrote the row.

On PostgreSQL the column is ``xid8`` and every row gets ``pg_current_xact_id()``, the writing
transaction's 64-bit id (the top-level one inside savepoints), so all rows of one transaction
share it. The feed serves only rows whose transaction is older than every transaction still in
flight (``feed_horizon``): any row that commits later has a higher id than every row already
served, so a reader that follows the (txid, id) order never skips one (docs/decisions.md,
"Change feed without gaps").

SQLite has one writer at a time (transactions start IMMEDIATE), so commit order is write
order: each row gets one more than the highest id in the table, read inside the writer's lock.
"""

from django.db import models
from django.db.models.expressions import Expression


class TransactionIdField(models.Field):
    """``xid8`` on PostgreSQL, an integer on SQLite; Python sees an ``int``.

    Filled on insert by ``CurrentTransactionId`` and read back (``RETURNING``), so an instance
    saved knows its position."""

    description = "Id of the writing transaction"
    db_returning = True

    def db_type(self, connection) -> str:
        return "xid8" if connection.vendor == "postgresql" else "integer"

    def rel_db_type(self, connection) -> str:
        return self.db_type(connection)

    def from_db_value(self, value, expression, connection):
        return None if value is None else int(value)

    def to_python(self, value):
        return None if value is None else int(value)

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None or hasattr(value, "resolve_expression"):
            return value
        # psycopg sends text as an untyped literal, which PostgreSQL reads as xid8 (there is no
        # xid8 = bigint operator).
        return str(int(value)) if connection.vendor == "postgresql" else int(value)

    def pre_save(self, model_instance, add):
        if add:
            return CurrentTransactionId(self)
        return super().pre_save(model_instance, add)


class CurrentTransactionId(Expression):
    """The position a row written now gets (see the module's docstring)."""

    def __init__(self, field: TransactionIdField):
        super().__init__(output_field=field)
        self.target = field

    def as_sql(self, compiler, connection):
        quote = connection.ops.quote_name
        return (
            f"(SELECT COALESCE(MAX({quote(self.target.column)}), 0) + 1 "
            f"FROM {quote(self.target.model._meta.db_table)})",
            [],
        )

    def as_postgresql(self, compiler, connection):
        return "pg_current_xact_id()", []


class FeedHorizon(Expression):
    """PostgreSQL: the oldest transaction still in flight when the statement's snapshot was
    taken. Every transaction below it has committed or rolled back, so the rows below it are
    all the rows there will ever be below it."""

    def __init__(self, field: TransactionIdField):
        super().__init__(output_field=field)

    def as_sql(self, compiler, connection):
        raise NotImplementedError("The feed horizon is PostgreSQL's; SQLite needs none.")

    def as_postgresql(self, compiler, connection):
        return "pg_snapshot_xmin(pg_current_snapshot())", []
