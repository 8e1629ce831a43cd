"""A revert over CHANGE_SET_SYNC_MAX customers, asked from the API or the admin, runs on the job
engine: 202 with the planned revert and its Location (the admin: its page), nothing undone in
the request; the job undoes exactly what the foreground revert would, batch by batch behind a
cursor of history ids; cancel stops it after the batch under way; a run cut off resumes from
the cursor, and a second runner never does a batch twice (twice would make false conflicts)."""

import threading
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from config.events.models import Event
from tags.models import ChangeSet, TagAssignment
from tags.services import (
    TagChange,
    change_set_cancel,
    change_set_run,
    customer_tags_change,
    customers_retag,
    resume_change_sets,
)
from tags.services import change_sets as change_sets_module
from tags.services.change_sets import ChangeSetPlan
from tests.conftest import make_client
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory, UserFactory
from tests.jobs.conftest import drain, queued, rq_queue

pytestmark = [pytest.mark.jobs, pytest.mark.django_db(transaction=True)]
URL = "/api/v1/change_sets/"
History = TagAssignment.history.model
WAIT_SECONDS = 30


@pytest.fixture
def small(settings, monkeypatch):
    """Background over 3 customers; the revert undoes 2 history rows a batch."""
    settings.CHANGE_SET_SYNC_MAX = 3
    monkeypatch.setattr(change_sets_module, "REVERT_BATCH_SIZE", 2)


@pytest.fixture
def reverter():
    return make_client("tags.view_changeset", "tags.change_changeset", "customers.tag_customer")


def assignments() -> dict:
    """Every assignment with what a revert must bring back as it was."""
    return {
        (a.customer_id, a.tag.name): (a.category, a.source, a.expires_at, a.assigned_by_id)
        for a in TagAssignment.objects.select_related("tag")
    }


@pytest.fixture
def world():
    """6 customers; two hold "prospect" with metadata of their own, one holds "vip"; then a
    change-set adds vip to all and removes prospect (7 history rows, 5 customers changed)."""
    seller = UserFactory(username="seller")
    customers = sorted(CustomerFactory.create_batch(6), key=lambda c: c.pk)
    prospect, vip = TagFactory(name="prospect"), TagFactory(name="vip")
    later = timezone.now() + timedelta(days=90)
    for customer in customers[:2]:
        TagAssignmentFactory(
            customer=customer, tag=prospect, category="funnel", source="crm",
            expires_at=later, assigned_by=seller,
        )  # fmt: skip
    TagAssignmentFactory(customer=customers[5], tag=vip)
    before = assignments()
    original = customers_retag(
        batches=[[c.pk for c in customers]],
        change=TagChange(add=("vip",), remove=("prospect",), reason="campaign"),
        actor=None,
        plan=ChangeSetPlan(kind="bulk_tag", selection={"all": True}, total=6),
    ).change_set
    assert (original.counts["added"], original.counts["removed"]) == (5, 2)
    return customers, original, before


def forget_jobs() -> None:
    """Drop the queued jobs, as a lost worker loses its job."""
    if settings.TASKS_BACKEND == "rq":
        rq_queue().empty()
    else:
        DBTaskResult.objects.all().delete()


def whole(revert: ChangeSet) -> None:
    """Each pair the revert undid has one history row, and its events name the customers of
    those rows (one per customer and batch): no batch half-written, none done twice."""
    rows = History.objects.filter(change_set_id=revert.pk)
    assert rows.count() == rows.values("customer_id", "tag_id").distinct().count()
    events = Event.objects.filter(change_set_id=revert.pk, type="customer.tags_changed")
    assert set(events.values_list("subject_id", flat=True)) == set(
        rows.values_list("customer_id", flat=True)
    )
    assert events.count() <= rows.count()


def finished_events(revert: ChangeSet) -> list[str]:
    return sorted(
        Event.objects.filter(change_set_id=revert.pk, type__startswith="change_set.").values_list(
            "type", flat=True
        )
    )


def planned_over_api(reverter, original: ChangeSet) -> ChangeSet:
    response = reverter.post(f"{URL}{original.pk}/revert", {"reason": "wrong list"}, format="json")
    assert response.status_code == 202, response.json()
    return ChangeSet.objects.get(pk=response.json()["change_set"]["id"])


def test_a_large_revert_answers_202_and_the_job_reverts_as_the_request_would(
    backend, small, reverter, world
):
    customers, original, before = world
    # given, since the change-set: vip taken off customers[2] (a conflict, left as it is)
    customer_tags_change(customer=customers[2], change=TagChange(remove=("vip",)), actor=None)
    # when the revert is asked over the API (6 customers, over the threshold of 3)
    response = reverter.post(f"{URL}{original.pk}/revert", {"reason": "wrong list"}, format="json")
    # then it is accepted: the revert planned, with its Location, nothing undone yet
    assert response.status_code == 202, response.json()
    body = response.json()["change_set"]
    assert response["Location"] == f"/api/v1/change_sets/{body['id']}"
    assert (body["kind"], body["state"], body["reverts"], body["reason"]) == (
        "revert", "planned", original.pk, "wrong list",
    )  # fmt: skip
    assert (body["progress"], body["created_by"]) == (0.0, reverter.user.username)
    revert = ChangeSet.objects.get(pk=body["id"])
    assert revert.options == {"background": True}
    assert revert.total == 5  # customers the change-set changed (customers[5] held vip)
    assert TagAssignment.objects.filter(tag__name="vip").count() == 5
    assert not History.objects.filter(change_set_id=revert.pk).exists()
    assert ChangeSet.objects.get(pk=original.pk).state == "done"
    assert queued() == 1
    # when a worker runs the job
    drain()
    # then it is reverted exactly as in the request: metadata back, the conflict left alone
    assert assignments() == before
    revert.refresh_from_db()
    assert (revert.state, revert.progress) == ("done", 1.0)
    counts = revert.counts
    assert (counts["added"], counts["removed"], counts["conflicts"]) == (2, 4, 1)
    assert [(c["customer_id"], c["tag"], c["change"]) for c in revert.conflicts] == [
        (customers[2].pk, "vip", "added")
    ]
    assert ChangeSet.objects.get(pk=original.pk).state == "reverted"
    assert finished_events(revert) == ["change_set.completed", "change_set.reverted"]
    whole(revert)
    assert set(
        History.objects.filter(change_set_id=revert.pk).values_list(
            "history_user_id", "history_change_reason"
        )
    ) == {(reverter.user.pk, "wrong list")}
    followed = reverter.get(response["Location"]).json()["change_set"]
    assert (followed["state"], followed["counts"]) == ("done", revert.counts)


def test_at_the_threshold_a_revert_still_runs_in_the_request(backend, settings, reverter, world):
    _, original, before = world
    settings.CHANGE_SET_SYNC_MAX = 5
    response = reverter.post(f"{URL}{original.pk}/revert", {}, format="json")
    assert response.status_code == 201
    assert response.json()["change_set"]["state"] == "done"
    assert assignments() == before
    assert queued() == 0


def test_the_command_reverts_in_the_foreground_whatever_the_size(backend, small, world):
    _, original, before = world
    call_command("retag", "--revert", original.pk, stdout=StringIO(), stderr=StringIO())
    assert ChangeSet.objects.get(reverts=original).state == "done"
    assert assignments() == before
    assert queued() == 0


def test_cancel_stops_a_background_revert_after_the_batch_under_way(
    backend, small, reverter, world, monkeypatch
):
    _, original, _ = world
    revert = planned_over_api(reverter, original)
    real = change_sets_module.assignments_revert
    calls = []

    def cancelled_meanwhile(**kwargs):
        # the cancel arrives while the first batch is being written
        done = real(**kwargs)
        calls.append(1)
        if len(calls) == 1:
            change_set_cancel(change_set=ChangeSet.objects.get(pk=revert.pk))
        return done

    monkeypatch.setattr(change_sets_module, "assignments_revert", cancelled_meanwhile)
    assert change_set_run(change_set_id=revert.pk) == "cancelled"
    # then that batch is whole (2 history rows of the original undone) and no other started
    revert.refresh_from_db()
    assert len(calls) == 1
    assert (revert.state, revert.counts["conflicts"]) == ("cancelled", 0)
    assert revert.counts["added"] + revert.counts["removed"] == 2
    assert History.objects.filter(change_set_id=revert.pk).count() == 2
    whole(revert)
    # and the original is not reverted: no change_set.completed nor reverted event
    assert ChangeSet.objects.get(pk=original.pk).state == "done"
    assert finished_events(revert) == []


def test_cancel_over_the_api_before_the_job_leaves_everything_as_it_is(
    backend, small, reverter, world
):
    _, original, _ = world
    after = assignments()
    revert = planned_over_api(reverter, original)
    cancelled = reverter.post(f"{URL}{revert.pk}/cancel", {}, format="json")
    assert (cancelled.status_code, cancelled.json()["change_set"]["state"]) == (200, "cancelled")
    drain()
    assert assignments() == after
    assert not History.objects.filter(change_set_id=revert.pk).exists()


def test_a_revert_cut_off_is_resumed_when_stale_from_its_cursor_with_no_false_conflicts(
    backend, small, reverter, world, monkeypatch
):
    # given a background revert whose worker dies during its second batch
    _, original, before = world
    revert = planned_over_api(reverter, original)
    real = change_sets_module.assignments_revert
    calls = []

    def dies_in_the_second_batch(**kwargs):
        done = real(**kwargs)
        calls.append(1)
        if len(calls) == 2:
            raise SystemExit("killed")  # not an error the run records: the process is gone
        return done

    monkeypatch.setattr(change_sets_module, "assignments_revert", dies_in_the_second_batch)
    with pytest.raises(SystemExit):
        change_set_run(change_set_id=revert.pk)
    revert.refresh_from_db()
    first_two = History.objects.filter(change_set_id=original.pk).order_by("history_id")[:2]
    assert (revert.state, revert.cursor) == ("running", str(first_two[1].history_id))
    assert History.objects.filter(change_set_id=revert.pk).count() == 2
    # when the job is lost with its worker, and the schedule finds the revert stale
    monkeypatch.setattr(change_sets_module, "assignments_revert", real)
    forget_jobs()
    assert resume_change_sets.call() == 0  # still fresh: its worker may be alive
    ChangeSet.objects.filter(pk=revert.pk).update(
        updated_at=timezone.now() - timedelta(seconds=301)
    )
    assert resume_change_sets.call() == 1
    drain()
    # then it finished from its cursor: every pair undone once, no conflict
    revert.refresh_from_db()
    assert revert.state == "done"
    assert (revert.counts["added"], revert.counts["removed"], revert.counts["conflicts"]) == (
        2, 5, 0,
    )  # fmt: skip
    assert assignments() == before
    whole(revert)
    assert finished_events(revert) == ["change_set.completed", "change_set.reverted"]


def test_a_second_runner_racing_the_first_never_does_a_batch_twice(
    backend, small, reverter, world, monkeypatch
):
    # given a background revert (7 history rows: 4 batches of 2)
    _, original, before = world
    revert = planned_over_api(reverter, original)
    real = change_sets_module.atomic_with_retries
    calls = []

    def interleaved(fn, **kwargs):
        calls.append(1)
        call = len(calls)
        if call == 2:
            # between the first runner's batches a second runner does one batch, then dies
            # before its next one
            with pytest.raises(SystemExit):
                change_set_run(change_set_id=revert.pk)
        if call == 4:
            raise SystemExit("the second runner dies")
        return real(fn, **kwargs)

    monkeypatch.setattr(change_sets_module, "atomic_with_retries", interleaved)
    # when the first runner runs it, the second cutting in
    assert change_set_run(change_set_id=revert.pk) == "done"
    # then each batch was done once: every pair undone, none counted as a conflict
    revert.refresh_from_db()
    assert (revert.counts["added"], revert.counts["removed"], revert.counts["conflicts"]) == (
        2, 5, 0,
    )  # fmt: skip
    assert revert.conflicts == []
    assert assignments() == before
    whole(revert)
    assert finished_events(revert) == ["change_set.completed", "change_set.reverted"]


def test_a_background_revert_that_breaks_is_failed_and_the_original_stays(
    backend, small, reverter, world, monkeypatch
):
    _, original, _ = world
    revert = planned_over_api(reverter, original)

    def breaks(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(change_sets_module, "assignments_revert", breaks)
    drain()
    revert.refresh_from_db()
    assert (revert.state, revert.error) == ("failed", "RuntimeError")
    assert finished_events(revert) == ["change_set.failed"]
    assert ChangeSet.objects.get(pk=original.pk).state == "done"


# --- the admin's Revert button ------------------------------------------------------------------


def test_the_admin_revert_button_over_the_threshold_plans_it_and_opens_its_page(
    backend, small, world
):
    _, original, before = world
    after = assignments()
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    # when the Revert button is pressed on a change-set over the threshold
    response = client.post(
        f"/admin/tags/changeset/{original.pk}/revert/", {"reason": "oops"}, follow=True
    )
    # then the revert is planned, nothing written in the request, and its page is shown
    revert = ChangeSet.objects.get(reverts=original)
    assert (revert.state, revert.reason, revert.options) == (
        "planned",
        "oops",
        {"background": True},
    )
    assert response.redirect_chain == [(f"/admin/tags/changeset/{revert.pk}/change/", 302)]
    page = response.content.decode()
    assert "Reverting 5 customers in the background" in page
    assert 'id="change-set-progress"' in page
    assert 'id="cancel-change-set"' in page
    assert assignments() == after
    assert not History.objects.filter(change_set_id=revert.pk).exists()
    assert ChangeSet.objects.get(pk=original.pk).state == "done"
    assert queued() == 1
    # and the job, when it runs, reverts it
    drain()
    assert assignments() == before
    assert ChangeSet.objects.get(pk=original.pk).state == "reverted"


# --- two runners at once, on PostgreSQL ---------------------------------------------------------


def test_two_runners_at_once_wait_on_the_revert_lock_and_do_no_batch_twice(
    backend, small, reverter, world, monkeypatch
):
    """The first runner holds the revert's row locked while it writes its batch; the second
    waits on that lock, then reads the cursor the first committed. SQLite takes one writer at
    a time (no row locks), so this one needs PostgreSQL."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite has no row locks (set DATABASE_URL=postgres://…)")
    _, original, before = world
    revert = planned_over_api(reverter, original)
    real = change_sets_module.assignments_revert
    in_batch, release = threading.Event(), threading.Event()
    pids: list[int] = []
    states: list[str] = []
    errors: list[BaseException] = []

    def first_batch_waits(**kwargs):
        done = real(**kwargs)
        if not in_batch.is_set():
            in_batch.set()
            release.wait(WAIT_SECONDS)
        return done

    monkeypatch.setattr(change_sets_module, "assignments_revert", first_batch_waits)

    def runner() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pids.append(cursor.fetchone()[0])
            states.append(change_set_run(change_set_id=revert.pk))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    first = threading.Thread(target=runner, daemon=True)
    first.start()
    assert in_batch.wait(WAIT_SECONDS)
    second = threading.Thread(target=runner, daemon=True)
    second.start()
    # the second runner waits on the revert's row while the first batch is under way
    deadline = time.monotonic() + WAIT_SECONDS
    while not (len(pids) == 2 and waits_on_a_lock(pids[1])):
        assert time.monotonic() < deadline, "the second runner did not wait on the lock"
        time.sleep(0.01)
    release.set()
    first.join(WAIT_SECONDS)
    second.join(WAIT_SECONDS)
    assert not errors, errors
    assert sorted(states) == ["done", "done"]
    # then every pair was undone once, none counted as a conflict, closed once
    revert.refresh_from_db()
    assert (revert.counts["added"], revert.counts["removed"], revert.counts["conflicts"]) == (
        2, 5, 0,
    )  # fmt: skip
    assert assignments() == before
    whole(revert)
    assert finished_events(revert) == ["change_set.completed", "change_set.reverted"]


def waits_on_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"
