"""A background change-set whose worker is killed with SIGKILL mid-run loses nothing and does
nothing twice: the batches done are whole (assignment, history row and event together, the
cursor after them), and the run the schedule starts again goes on from the cursor. A real
worker process (`manage.py run_worker`) on the configured backend, as in
test_killed_worker.py."""

import json
import time

import pytest

from tests.jobs.conftest import kill_hard

CUSTOMERS = 2000
BATCH = "5"

pytestmark = [pytest.mark.jobs, pytest.mark.django_db(transaction=True)]

PLAN = """
from django.db import transaction
from customers.models import Customer
from tags.services import TagChange, change_set_plan
with transaction.atomic():
    change_set, _ = change_set_plan(
        customer_ids=list(Customer.objects.values_list("pk", flat=True)),
        change=TagChange(add=("winback",), reason="drill"),
        actor=None,
        selection={"all": True},
    )
print(change_set.pk)
"""

RESUME = """
from datetime import timedelta
from django.utils import timezone
from tags.models import ChangeSet
from tags.services import resume_change_sets
ChangeSet.objects.update(updated_at=timezone.now() - timedelta(hours=1))
print(resume_change_sets.call())
"""


def written(db, change_set_id: str) -> dict:
    """What the run wrote so far (``change_set_id`` as its column stores it)."""
    of_set = f"change_set_id = '{change_set_id}'"
    return {
        "assignments": db.scalar(
            "SELECT COUNT(*) FROM tags_tagassignment a JOIN tags_tag t ON t.id = a.tag_id "
            "WHERE t.name = 'winback'"
        ),
        "history": db.scalar(f"SELECT COUNT(*) FROM tags_historicaltagassignment WHERE {of_set}"),
        "events": db.scalar(
            f"SELECT COUNT(*) FROM events_event WHERE {of_set} AND type = 'customer.tags_changed'"
        ),
    }


def change_set_row(db, change_set_id: str) -> tuple[str, dict]:
    """The change-set's state and counts, as the database holds them."""
    where = f"WHERE id = '{change_set_id}'"
    counts = db.scalar(f"SELECT CAST(counts AS text) FROM tags_changeset {where}")
    return db.scalar(f"SELECT state FROM tags_changeset {where}"), json.loads(counts)


def test_a_killed_worker_leaves_whole_batches_and_the_rerun_finishes(shared_database, monkeypatch):
    db = shared_database
    monkeypatch.setenv("CHANGE_SET_BATCH_SIZE", BATCH)
    db.manage(
        "seed_demo", "--customers", str(CUSTOMERS), "--tags", "2", "--tags-per-customer", "1",
        "--segments", "0",
    )  # fmt: skip
    # given a background change-set adding "winback" to every customer, 5 a batch
    assert db.manage("shell", "-c", PLAN).strip()
    # (its id as the columns store it, for the queries below)
    change_set_id = db.scalar("SELECT CAST(id AS text) FROM tags_changeset")
    # when its worker is killed (SIGKILL, with the job's process) once it is under way
    worker = db.worker()
    deadline = time.monotonic() + 120
    while written(db, change_set_id)["assignments"] < 100:
        assert worker.poll() is None, worker.stderr.read().decode()
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.01)
    kill_hard(worker.pid)
    worker.wait(30)
    done = written(db, change_set_id)
    assert 0 < done["assignments"] < CUSTOMERS, "killed too late to test anything"
    # then every batch done is whole: one history row and one event per customer tagged
    assert done["history"] == done["events"] == done["assignments"]
    state, counts = change_set_row(db, change_set_id)
    assert state == "running"
    assert counts["customers"] == counts["added"] == done["assignments"]

    # when the schedule finds it stale and a new worker runs it again
    assert db.manage("shell", "-c", RESUME).strip().splitlines()[-1] == "1"
    rerun = db.worker("--batch")
    assert rerun.wait(300) == 0, rerun.stderr.read().decode()
    # then every customer has it once, recorded once
    assert written(db, change_set_id) == {
        "assignments": CUSTOMERS,
        "history": CUSTOMERS,
        "events": CUSTOMERS,
    }
    state, counts = change_set_row(db, change_set_id)
    assert state == "done"
    assert db.scalar("SELECT COUNT(*) FROM events_event WHERE type = 'change_set.completed'") == 1
