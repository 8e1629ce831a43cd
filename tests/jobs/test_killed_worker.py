"""A worker killed with SIGKILL in the middle of a job loses nothing: every batch the job
finished is complete (assignments gone with their history rows), and the next run of the job
does the rest, each expiry recorded once. Runs a real worker process (`manage.py run_worker`)
on the configured backend, against a database the test shares with it: the test database on
PostgreSQL, a database file on SQLite."""

import time

import pytest
from django.conf import settings

from tests.jobs.conftest import SharedDatabase, kill_hard, rq_queue

CUSTOMERS = 3000
BATCH = 5

pytestmark = [pytest.mark.jobs, pytest.mark.django_db(transaction=True)]


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
