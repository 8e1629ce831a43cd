"""No gaps in the change feed on PostgreSQL: a transaction that commits after a reader has
moved on never adds an event behind the reader's position.

Ids (ULIDs) and transaction ids are both taken before commit, so transactions commit out of
their order; serving only events older than the oldest transaction in flight is what keeps a
polling reader from skipping one (docs/decisions.md, "Change feed without gaps"). SQLite has
one writer at a time: there the order of commits is the order of writes, nothing to race.

``RELIABILITY_OPS`` sets the transactions per writer thread (default 400).
"""

import os
import random
import threading
import time

import pytest
from django.db import connection, transaction

from config.events.models import Event
from config.events.services import EventDraft, event_record, events_record_many
from tests.conftest import make_client
from tests.events.conftest import wait_until_served

pytestmark = pytest.mark.django_db(transaction=True)
WRITERS = 8
TRANSACTIONS_PER_WRITER = int(os.environ.get("RELIABILITY_OPS", "400"))
EVENTS = "/api/v1/events/"


def needs_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so commits cannot reorder")


def test_an_event_committed_late_is_not_skipped_by_a_reader_that_moved_on():
    needs_postgresql()
    reader = make_client("events.view_event")
    early_written, late_may_commit, early_done = (
        threading.Event(),
        threading.Event(),
        threading.Event(),
    )
    errors = []

    def slow_writer() -> None:
        # writes first (the lower transaction id and ULID), commits last
        try:
            with transaction.atomic():
                event_record(type="tag.created", data={"n": "early"})
                early_written.set()
                assert late_may_commit.wait(30)
        except BaseException as exc:
            errors.append(exc)
        finally:
            early_done.set()
            connection.close()

    thread = threading.Thread(target=slow_writer, daemon=True)
    thread.start()
    assert early_written.wait(30)
    # given a second transaction that commits while the first is still in flight
    with transaction.atomic():
        event_record(type="tag.created", data={"n": "late"})
    # when a reader polls now, it is served neither (the first may still commit before it)
    first_poll = reader.get(EVENTS).json()["events"]
    assert [event["data"]["n"] for event in first_poll] == []
    # then once the first commits, the reader gets both, in the order they were written
    late_may_commit.set()
    assert early_done.wait(30)
    thread.join(30)
    assert not errors, errors
    wait_until_served()
    second_poll = reader.get(EVENTS).json()["events"]
    assert [event["data"]["n"] for event in second_poll] == ["early", "late"]


def test_a_polling_reader_collects_every_event_of_8_writers_once_in_order():
    needs_postgresql()
    stop_reading = threading.Event()
    barrier = threading.Barrier(WRITERS + 1)
    collected: list[str] = []
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        rng = random.Random(index)
        try:
            barrier.wait()
            for n in range(TRANSACTIONS_PER_WRITER):
                with transaction.atomic():
                    if rng.random() < 0.5:
                        event_record(type="tag.updated", data={"w": index, "n": n})
                    else:
                        events_record_many(
                            events=[
                                EventDraft(type="tag.updated", data={"w": index, "n": n, "i": i})
                                for i in range(rng.randint(1, 3))
                            ]
                        )
                    # hold some transactions open so commits overtake one another
                    if rng.random() < 0.2:
                        time.sleep(rng.random() * 0.005)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def reader() -> None:
        client = make_client("events.view_event", username="poller")
        last = None
        try:
            barrier.wait()
            while True:
                done = stop_reading.is_set()
                params = {"limit": 200, **({"after": last} if last else {})}
                response = client.get(EVENTS, params)
                assert response.status_code == 200, response.content
                page = [event["id"] for event in response.json()["events"]]
                collected.extend(page)
                if page:
                    last = page[-1]
                elif done:
                    return  # the writers had finished and everything served was read
                else:
                    time.sleep(0.002)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(WRITERS)]
    polling = threading.Thread(target=reader, daemon=True)
    for thread in [*threads, polling]:
        thread.start()
    for thread in threads:
        thread.join(600)
    assert not [t for t in threads if t.is_alive()], "a writer is stuck"
    # every writer has committed: once the feed serves all of it, the reader may stop
    wait_until_served()
    stop_reading.set()
    polling.join(120)
    assert not polling.is_alive(), "the reader is stuck"
    assert not errors, errors[0]

    table = list(Event.objects.in_feed_order().values_list("id", flat=True))
    assert len(table) >= WRITERS * TRANSACTIONS_PER_WRITER
    assert len(collected) == len(set(collected)), "an event was served twice"
    assert set(table) - set(collected) == set(), "the reader skipped events"
    assert collected == table
