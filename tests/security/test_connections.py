"""Many idle client connections must not hold as many database connections (PostgreSQL).

runserver (``make run``) starts a thread per client connection; with persistent database
connections each thread kept one until its client left, so about 100 clients exhausted
PostgreSQL's ``max_connections``. Persistent connections are for gunicorn only.
"""

import pytest
from django.db import connection

from tests.security.clients import requests_in_parallel

pytestmark = pytest.mark.django_db(transaction=True)

CLIENTS = 150
MAX_HELD = 20


def needs_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: counts connections in pg_stat_activity (set DATABASE_URL)")


def test_idle_clients_do_not_hold_database_connections(served):
    needs_postgresql()
    held: list[int] = []

    def count_held() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [served.database],
            )
            held.append(cursor.fetchone()[0])

    # given 150 clients, each with a keep-alive connection and one answered request
    def request(index: int):
        path = "/healthz" if index % 3 == 0 else "/api/v1/customers/?limit=1"
        return "GET", path, None

    # when every client connection is still open
    statuses = requests_in_parallel(served, CLIENTS, request, while_held=count_held)
    # then no error, and the server holds only a few database connections
    assert [s for s in statuses if s >= 500] == []
    assert set(statuses) == {200}
    assert held[0] <= MAX_HELD, f"{held[0]} database connections held by {CLIENTS} idle clients"
