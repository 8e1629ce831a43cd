"""A status or label delete that meets a writer still referring to the row, on PostgreSQL.

The delete locks its row FOR UPDATE, which waits for a writer holding FOR KEY SHARE (a label
being created under the status, a customer being moved to the label); once that writer commits,
the delete sees the new reference and refuses with 409. A weaker lock (FOR NO KEY UPDATE) would
run its checks before the writer commits and fail at its own commit on the foreign key (a 500).
SQLite takes one writer at a time, so the tests skip there.
"""

import threading
import time

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from customers.models import Customer
from statuses.models import Status, StatusLabel
from statuses.services import label_save
from tests.conftest import make_client
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db(transaction=True)
WAIT_SECONDS = 30


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite has no row locks (set DATABASE_URL=postgres://…)")


def backend_waits_on_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


def delete_while_a_writer_holds(url: str, raw_token: str, hold) -> tuple[int, dict]:
    """Run ``hold()`` in a transaction left open, send the DELETE from another connection, let
    the writer commit once the DELETE waits on its lock, and return the DELETE's answer."""
    held, release = threading.Event(), threading.Event()
    pids: list[int] = []
    answers: list[tuple[int, dict]] = []
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with transaction.atomic():
                hold()
                held.set()
                release.wait(WAIT_SECONDS)
        except BaseException as exc:
            errors.append(exc)
            held.set()
        finally:
            connection.close()

    def deleter() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pids.append(cursor.fetchone()[0])
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_token}")
            client.raise_request_exception = False
            response = client.delete(url)
            answers.append((response.status_code, response.json() if response.content else {}))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    writing = threading.Thread(target=writer, daemon=True)
    writing.start()
    assert held.wait(WAIT_SECONDS)
    deleting = threading.Thread(target=deleter, daemon=True)
    deleting.start()
    deadline = time.monotonic() + WAIT_SECONDS
    while not (pids and backend_waits_on_a_lock(pids[0])):
        assert deleting.is_alive(), (answers, errors)
        assert time.monotonic() < deadline, "the DELETE never waited on the writer's lock"
        time.sleep(0.01)
    release.set()
    writing.join(WAIT_SECONDS)
    deleting.join(WAIT_SECONDS)
    assert not writing.is_alive(), "the writer is stuck"
    assert not deleting.is_alive(), "the DELETE is stuck"
    assert not errors, errors
    (answer,) = answers
    return answer


def test_a_status_delete_waits_for_a_label_being_created_under_it_and_refuses():
    # given a status without labels, and a label being created under it (not yet committed)
    dormant = Status.objects.create(name="Dormant")
    raw = make_client("statuses.delete_status").raw_token

    def create_label() -> None:
        label_save(label=None, data={"name": "Sleeping", "status": dormant}, actor=None)

    # when the status is deleted meanwhile
    status_code, body = delete_while_a_writer_holds(
        f"/api/v1/statuses/{dormant.id}", raw, create_label
    )
    # then the delete waited, saw the committed label and refused; both rows are kept
    assert status_code == 409, body
    assert [error["code"] for error in body["errors"]] == ["status_in_use"]
    assert Status.objects.filter(pk=dormant.pk).exists()
    assert StatusLabel.objects.filter(name="Sleeping", status=dormant).exists()


def test_a_label_delete_waits_for_a_customer_being_moved_to_it_and_refuses():
    # given a label nobody holds, and a customer being moved to it (the label row locked
    # FOR KEY SHARE as a status change locks it, not yet committed)
    gold = label_save(
        label=None, data={"name": "Gold", "status": Status.objects.get(name="Active")}, actor=None
    )
    customer = CustomerFactory()
    raw = make_client("statuses.delete_statuslabel").raw_token

    def move_customer() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT 1 FROM {StatusLabel._meta.db_table} WHERE id = %s FOR KEY SHARE",
                [StatusLabel._meta.pk.get_db_prep_value(gold.pk, connection)],
            )
        Customer.objects.filter(pk=customer.pk).update(status_label=gold)

    # when the label is deleted meanwhile
    status_code, body = delete_while_a_writer_holds(
        f"/api/v1/status_labels/{gold.id}", raw, move_customer
    )
    # then the delete waited, saw the customer holding it and refused; the label is kept
    assert status_code == 409, body
    assert body["errors"][0]["code"] == "label_in_use"
    assert body["errors"][0]["detail"].startswith("1 customer(s) hold the label 'Gold'")
    assert StatusLabel.objects.filter(pk=gold.pk).exists()
    assert Customer.objects.get(pk=customer.pk).status_label_id == gold.pk
