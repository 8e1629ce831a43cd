"""Code that differs by database is a class per database, chosen by the connection once."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from config.bulk import PostgresLoader, SqliteLoader, loader
from config.databases import per_database


def test_the_implementation_for_the_connections_database_is_made_once():
    made = []

    class Here:
        def __init__(self) -> None:
            made.append(self)

    choose = per_database({connection.vendor: Here, "other": object})
    assert choose() is choose()
    assert made == [choose()]


def test_a_database_without_an_implementation_is_a_clear_configuration_error():
    choose = per_database({"mysql": object, "oracle": object})
    with pytest.raises(
        ImproperlyConfigured, match=f"runs on mysql or oracle, not {connection.vendor}"
    ):
        choose()


def test_the_bulk_loader_is_the_databases_own():
    expected = PostgresLoader if connection.vendor == "postgresql" else SqliteLoader
    assert type(loader()) is expected
