"""``make run`` creates a missing PostgreSQL database instead of ending in a traceback."""

import uuid

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from config.databases import DatabaseUnavailable, postgresql_database_create_if_missing

pytestmark = pytest.mark.django_db


def needs_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL=postgres://…)")


def database_exists(params: dict, name: str) -> bool:
    with psycopg.connect(**{**params, "dbname": "postgres"}, autocommit=True) as server:
        return bool(
            server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        )


def test_a_missing_database_is_created_once():
    needs_postgresql()
    # given connection parameters naming a database the server does not have
    params = {**connection.get_connection_params(), "dbname": f"tagdesk_new_{uuid.uuid4().hex[:8]}"}
    params.pop("cursor_factory", None)
    params.pop("context", None)
    assert not database_exists(params, params["dbname"])
    try:
        # when it is ensured twice
        created = postgresql_database_create_if_missing(params)
        again = postgresql_database_create_if_missing(params)
        # then it exists, created by the first call only
        assert (created, again) == (True, False)
        assert database_exists(params, params["dbname"])
    finally:
        with psycopg.connect(**{**params, "dbname": "postgres"}, autocommit=True) as server:
            server.execute(f'DROP DATABASE IF EXISTS "{params["dbname"]}"')


def test_an_unreachable_server_is_one_line_saying_how():
    params = {"dbname": "tagdesk", "host": "127.0.0.1", "port": 1, "user": "postgres"}
    with pytest.raises(DatabaseUnavailable) as refused:
        postgresql_database_create_if_missing(params)
    message = str(refused.value)
    assert "\n" not in message
    assert "createdb -h 127.0.0.1 -p 1 -U postgres tagdesk" in message


def test_the_command_maps_an_unreachable_server_to_a_command_error(monkeypatch):
    def unreachable(*, alias="default"):
        raise DatabaseUnavailable("Could not create PostgreSQL database 'x'.")

    monkeypatch.setattr(
        "config.api.management.commands.ensure_database.database_create_if_missing", unreachable
    )
    with pytest.raises(CommandError, match="Could not create"):
        call_command("ensure_database")


def test_the_command_leaves_sqlite_alone():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    call_command("ensure_database")
