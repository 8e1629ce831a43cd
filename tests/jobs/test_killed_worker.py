"""A worker killed with SIGKILL in the middle of a job loses nothing: every batch the job
finished is complete (assignments gone with their history rows), and the next run of the job
does the rest, each expiry recorded once. Runs a real worker process (`manage.py run_worker`)
on the configured backend, against a database the test shares with it: the test database on
PostgreSQL, a database file on SQLite."""

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.jobs.conftest import rq_queue

ROOT = Path(__file__).resolve().parents[2]
CUSTOMERS = 3000
BATCH = 5

pytestmark = [pytest.mark.jobs, pytest.mark.django_db(transaction=True)]


class SharedDatabase:
    def __init__(self, url: str, sqlite_path: Path | None):
        self.url = url
        self.sqlite_path = sqlite_path

    def env(self) -> dict:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": self.url,
            "TASKS_QUEUE": settings.TASKS_QUEUE,
            "TASKS_BACKEND": settings.TASKS_BACKEND,
        }

    def manage(self, *args: str, timeout: int = 300) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def worker(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "manage.py", "run_worker", *args],
            cwd=ROOT,
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def scalar(self, sql: str):
        if self.sqlite_path is None:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchone()[0]
        with sqlite3.connect(self.sqlite_path, timeout=30) as db:
            return db.execute(sql).fetchone()[0]

    def execute(self, sql: str) -> None:
        if self.sqlite_path is None:
            with connection.cursor() as cursor:
                cursor.execute(sql)
            return
        with sqlite3.connect(self.sqlite_path, timeout=30) as db:
            db.execute(sql)


@pytest.fixture
def shared_database(tmp_path, backend) -> SharedDatabase:
    if connection.vendor == "postgresql":
        s = connection.settings_dict
        url = f"postgres://{s['USER']}@{s['HOST']}:{s['PORT'] or 5432}/{s['NAME']}"
        return SharedDatabase(url, None)
    path = tmp_path / "jobs.sqlite3"
    database = SharedDatabase(f"sqlite:///{path}", path)
    database.manage("migrate", "--noinput")
    return database


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants: an RQ worker runs each job in a forked work-horse, in a
    session of its own, so killing the worker's process group would leave the job running."""
    children = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True
    ).stdout.split()
    return [pid, *(p for child in children for p in process_tree(int(child)))]


def kill_hard(pid: int) -> None:
    """SIGKILL the worker and whatever runs its job, as when its machine goes away."""
    for process in reversed(process_tree(pid)):
        # an RQ work-horse may have finished its job (and exited) since it was listed
        with contextlib.suppress(ProcessLookupError):
            os.kill(process, signal.SIGKILL)


def remaining(db: SharedDatabase) -> int:
    return db.scalar("SELECT COUNT(*) FROM tags_tagassignment")


def expiries(db: SharedDatabase) -> tuple[int, int]:
    """(expiry history rows, assignments they name): equal when none is recorded twice."""
    return (
        db.scalar(
            "SELECT COUNT(*) FROM tags_historicaltagassignment "
            "WHERE history_type = '-' AND history_change_reason = 'expired'"
        ),
        db.scalar(
            "SELECT COUNT(DISTINCT id) FROM tags_historicaltagassignment "
            "WHERE history_type = '-' AND history_change_reason = 'expired'"
        ),
    )


def half_expired(db: SharedDatabase) -> int:
    """Customers with some assignments expired and some still there. A batch takes whole
    customers (each customer's expiry is one event), so a half-written batch shows up here."""
    return db.scalar(
        "SELECT COUNT(DISTINCT h.customer_id) FROM tags_historicaltagassignment h "
        "JOIN tags_tagassignment a ON a.customer_id = h.customer_id "
        "WHERE h.history_type = '-' AND h.history_change_reason = 'expired'"
    )


def expiry_events(db: SharedDatabase) -> tuple[int, int]:
    """(tags_changed events, customers with an expiry recorded): equal when each customer's
    expiry is one event, written with its batch."""
    return (
        db.scalar("SELECT COUNT(*) FROM events_event WHERE type = 'customer.tags_changed'"),
        db.scalar(
            "SELECT COUNT(DISTINCT customer_id) FROM tags_historicaltagassignment "
            "WHERE history_type = '-' AND history_change_reason = 'expired'"
        ),
    )


def enqueue_expiry(db: SharedDatabase) -> None:
    db.manage(
        "shell",
        "-c",
        f"from config.edge.tasks import expire_tags; expire_tags.enqueue(batch_size={BATCH})",
    )


def test_a_worker_killed_mid_job_loses_nothing_and_the_next_run_finishes(shared_database):
    db = shared_database
    # given thousands of assignments, all expired, and an expiry job that works 5 at a time
    db.manage(
        "seed_demo", "--customers", str(CUSTOMERS), "--tags", "2", "--tags-per-customer", "1",
        "--segments", "0",
    )  # fmt: skip
    db.execute("UPDATE tags_tagassignment SET expires_at = '2000-01-01 00:00:00+00:00'")
    total = remaining(db)
    assert total > CUSTOMERS // 2
    enqueue_expiry(db)
    # when a worker is killed (SIGKILL, with the job's process) once it is under way
    worker = db.worker()
    deadline = time.monotonic() + 120
    while remaining(db) > total - 100:
        assert worker.poll() is None, worker.stderr.read().decode()
        assert time.monotonic() < deadline, "the job made no progress"
        time.sleep(0.01)
    kill_hard(worker.pid)
    worker.wait(30)
    left = remaining(db)
    assert 0 < left < total, "killed too late to test anything"
    # then every batch done is whole: each removed assignment has its one history row
    assert expiries(db) == (total - left, total - left)
    assert half_expired(db) == 0, "a batch was half-written"
    events, customers = expiry_events(db)
    assert events == customers > 0

    # when the job runs again (the next periodic run) on a new worker
    enqueue_expiry(db)
    rerun = db.worker("--batch")
    assert rerun.wait(180) == 0, rerun.stderr.read().decode()
    # then the rest is done, and every assignment's expiry is recorded exactly once
    assert remaining(db) == 0
    assert expiries(db) == (total, total)
    events, customers = expiry_events(db)
    assert (
        events
        == customers
        == CUSTOMERS
        - db.scalar(
            "SELECT COUNT(*) FROM customers_customer c WHERE NOT EXISTS (SELECT 1 FROM "
            "tags_historicaltagassignment h WHERE h.customer_id = c.id)"
        )
    )

    if settings.TASKS_BACKEND == "database":
        # and the killed run, left "running" by its worker, is marked failed by the tidy-up
        statuses = db.manage(
            "shell",
            "-c",
            "from datetime import timedelta; from config.jobs import jobs_mark_abandoned; "
            "from django_tasks_db.models import DBTaskResult; "
            "print(jobs_mark_abandoned(older_than=timedelta(0))); "
            "print(sorted(DBTaskResult.objects.values_list('status', flat=True)))",
        )
        assert statuses.strip().splitlines()[-2:] == ["1", "['FAILED', 'SUCCESSFUL']"]
    else:
        assert len(rq_queue()) == 0
