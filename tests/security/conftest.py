"""A real server on a free loopback port, started the way ``make run`` starts it (runserver,
DEBUG off), over the test database: PostgreSQL's test database itself, or for SQLite a copy of
the in-memory test database in a file, since another process cannot open memory."""

import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection

from config.api.services import token_issue
from tests.factories import CustomerFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 60


@dataclass
class Server:
    host: str
    port: int
    token: str
    database: str

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(tmp_path: Path) -> str:
    """The test database as a URL another process can open."""
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        user = settings["USER"] or "postgres"
        password = f":{settings['PASSWORD']}" if settings["PASSWORD"] else ""
        host = settings["HOST"] or "127.0.0.1"
        return f"postgres://{user}{password}@{host}:{settings['PORT'] or 5432}/{settings['NAME']}"
    copy = tmp_path / "served.sqlite3"
    connection.ensure_connection()
    with sqlite3.connect(copy) as target:
        connection.connection.backup(target)
    return f"sqlite:///{copy}"


@pytest.fixture
def served(transactional_db, tmp_path):
    """A runserver subprocess (as ``make run`` starts it) and a token of a user who may read
    customers; stopped, and its log shown on failure, at the end."""
    user = UserFactory(perms=["customers.view_customer", "customers.add_customer"])
    _, raw = token_issue(user=user)
    CustomerFactory.create_batch(3)
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "TEST_DATABASE_NAME", "DEBUG", "DB_CONN_MAX_AGE"}
    }
    env.update(
        DATABASE_URL=database_url(tmp_path),
        DEBUG="0",
        API_THROTTLE_RATE="off",
        PYTHONUNBUFFERED="1",
    )
    log = (tmp_path / "server.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server("127.0.0.1", port, raw, connection.settings_dict["NAME"])
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                with urllib.request.urlopen(f"{server.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"the server did not start:\n{log.read()[-3000:]}")
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        connection.close()  # the transactional flush must not wait on a server connection
