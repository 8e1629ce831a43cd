"""The admin's "Change status…" over CHANGE_SET_SYNC_MAX customers is planned as a background
change-set of kind ``status``: the admin goes to its page at once, a worker moves the customers
batch by batch behind a cursor (a refused one keeps its label, the others move), cancel stops
it after the batch under way, and a run cut off resumes with no customer moved twice. On the
configured backend (CI runs these once more with TASKS_BACKEND=rq)."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from config.events.models import Event
from config.exceptions import InvalidInput
from customers.models import Customer
from statuses.models import Status, StatusChange, StatusLabel
from tags.models import ChangeSet
from tags.services import customers_status_change_run, resume_change_sets, status_bulk
from tags.services.change_sets import change_set_cancel
from tests.conftest import make_client
from tests.factories import CustomerFactory
from tests.jobs.conftest import drain, queued
from tests.jobs.test_change_set_background import forget_jobs

pytestmark = [pytest.mark.jobs, pytest.mark.django_db(transaction=True)]
CHANGELIST = "/admin/customers/customer/"


@pytest.fixture
def inactive():
    return StatusLabel.objects.get(name="Inactive")


def customers(n: int) -> list:
    return sorted(CustomerFactory.create_batch(n), key=lambda c: c.pk)


def label_of(customer) -> str:
    return Customer.objects.select_related("status_label").get(pk=customer.pk).status_label.name


def change_status(client, ids, label, *, reason="winter clean-up", apply=True):
    data = {"action": "change_status", "_selected_action": ids, "label": label.pk}
    if apply:
        data |= {"apply": "1", "reason": reason}
    return client.post(CHANGELIST, data)


def test_a_large_status_change_is_planned_and_a_worker_runs_it(backend, small, boss, inactive):
    # given 5 customers: one already inactive, one on a label that may not move to Inactive
    everyone = customers(5)
    locked = StatusLabel.objects.create(name="Locked", status=Status.objects.get(name="Active"))
    locked.allowed_next.set([StatusLabel.objects.get(name="Active")])
    already, stuck = everyone[1], everyone[3]
    Customer.objects.filter(pk=already.pk).update(status_label=inactive)
    Customer.objects.filter(pk=stuck.pk).update(status_label=locked)
    # when all 5 (over the threshold of 3) are moved to Inactive from the admin
    response = change_status(boss, [c.pk for c in everyone], inactive)
    # then the admin goes to the planned change-set's page, and nobody has moved yet
    change_set = ChangeSet.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/tags/changeset/{change_set.pk}/change/"
    assert (change_set.kind, change_set.state, change_set.total) == ("status", "planned", 5)
    assert (change_set.add, change_set.remove, change_set.reason) == (
        ["Inactive"], [], "winter clean-up",
    )  # fmt: skip
    assert change_set.customer_ids == [c.pk for c in everyone]
    assert change_set.options == {"background": True, "label_id": inactive.pk, "source": "ADMIN"}
    assert change_set.created_by == boss.user
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert messages[0].startswith(f"Planned as change-set {change_set.pk}: 5 customers")
    assert not StatusChange.objects.exists()
    assert queued() == 1
    # when a worker runs the job
    drain()
    # then every customer was processed: three moved, one refused, one already there
    change_set.refresh_from_db()
    assert (change_set.state, change_set.progress, change_set.cursor) == (
        "done", 1.0, everyone[-1].pk,
    )  # fmt: skip
    assert change_set.counts == {
        "customers": 5, "added": 3, "removed": 0, "conflicts": 1, "skipped_limit": 0,
    }  # fmt: skip
    assert [c["customer_id"] for c in change_set.conflicts] == [stuck.pk]
    assert [label_of(c) for c in everyone] == ["Inactive"] * 3 + ["Locked", "Inactive"]
    # the moves name the boss and the change-set, one each
    changes = StatusChange.objects.all()
    assert sorted(changes.values_list("customer_id", flat=True)) == sorted(
        c.pk for c in everyone if c not in (already, stuck)
    )
    assert set(changes.values_list("created_by", "change_set_id")) == {
        (boss.user.pk, change_set.pk)
    }
    assert (
        Event.objects.filter(type="customer.status_changed", change_set_id=change_set.pk).count()
        == 3
    )
    assert (
        Event.objects.filter(type="change_set.completed", change_set_id=change_set.pk).count() == 1
    )
    # the change-set's page names the refused customer and why
    page = boss.get(response["Location"]).content.decode()
    assert f"{stuck.pk}</a>: refused, A customer labelled &#x27;Locked&#x27; cannot move" in page
    # and the API shows the counts, with no customer × tag conflicts (a status change has none)
    api = make_client("tags.view_changeset").get(f"/api/v1/change_sets/{change_set.pk}")
    body = api.json()["change_set"]
    assert (api.status_code, body["counts"]["conflicts"], body["conflicts"]) == (200, 1, [])


def test_at_the_threshold_it_still_runs_in_the_request(backend, small, boss, inactive):
    everyone = customers(3)
    page = change_status(boss, [c.pk for c in everyone], inactive, apply=False)
    assert 'id="status-background"' not in page.content.decode()
    response = change_status(boss, [c.pk for c in everyone], inactive)
    assert response.status_code == 302
    assert response["Location"] == CHANGELIST
    assert ChangeSet.objects.get().state == "done"
    assert StatusChange.objects.count() == 3
    assert queued() == 0


def test_the_confirmation_page_says_a_large_change_runs_in_the_background(
    backend, small, boss, inactive
):
    page = change_status(boss, [c.pk for c in customers(4)], inactive, apply=False)
    assert page.status_code == 200
    assert "Over 3 customers: the change is planned as a change-set that runs in the " in (
        page.content.decode()
    )
    assert not ChangeSet.objects.exists()


def test_a_blank_reason_plans_nothing(backend, small, boss, inactive):
    everyone = customers(4)
    response = change_status(boss, [c.pk for c in everyone], inactive, reason="  ")
    assert response.status_code == 200  # the form again, with its error
    assert not ChangeSet.objects.exists()
    assert queued() == 0
    with pytest.raises(InvalidInput):
        status_bulk.customers_status_change_plan(
            customer_ids=[c.pk for c in everyone], label=inactive, reason=" ", actor=None,
            selection={},
        )  # fmt: skip
    assert not ChangeSet.objects.exists()


def planned(boss, everyone, inactive) -> str:
    change_status(boss, [c.pk for c in everyone], inactive)
    forget_jobs()  # the test runs it by hand
    return ChangeSet.objects.get().pk


def test_cancel_stops_the_run_after_the_batch_under_way(
    backend, small, boss, inactive, monkeypatch
):
    everyone = customers(6)
    change_set_id = planned(boss, everyone, inactive)
    real = status_bulk.customer_status_change

    def cancelled_meanwhile(**kwargs):
        # the cancel arrives while the first batch is being written
        done = real(**kwargs)
        if kwargs["customer"].pk == everyone[1].pk:
            change_set_cancel(change_set=ChangeSet.objects.get(pk=change_set_id))
        return done

    monkeypatch.setattr(status_bulk, "customer_status_change", cancelled_meanwhile)
    assert customers_status_change_run(change_set_id=change_set_id) == "cancelled"
    # then that batch is whole and no other was started
    assert sorted(StatusChange.objects.values_list("customer_id", flat=True)) == [
        c.pk for c in everyone[:2]
    ]
    change_set = ChangeSet.objects.get(pk=change_set_id)
    assert (change_set.counts["customers"], change_set.cursor) == (2, everyone[1].pk)
    assert change_set.progress == pytest.approx(2 / 6)
    assert not Event.objects.filter(type__startswith="change_set.").exists()
    # and the job, should it come again, does nothing
    assert customers_status_change_run(change_set_id=change_set_id) == "cancelled"
    assert StatusChange.objects.count() == 2


def test_a_run_cut_off_resumes_from_its_cursor_with_nobody_moved_twice(
    backend, small, boss, inactive, monkeypatch
):
    # given a background run whose worker dies in its second batch
    everyone = customers(5)
    change_set_id = planned(boss, everyone, inactive)
    real = status_bulk.customer_status_change

    def dies_at_the_third(**kwargs):
        if kwargs["customer"].pk == everyone[2].pk:
            raise SystemExit("killed")  # not an error the run records: the process is gone
        return real(**kwargs)

    monkeypatch.setattr(status_bulk, "customer_status_change", dies_at_the_third)
    with pytest.raises(SystemExit):
        customers_status_change_run(change_set_id=change_set_id)
    change_set = ChangeSet.objects.get(pk=change_set_id)
    assert (change_set.state, change_set.cursor) == ("running", everyone[1].pk)
    assert StatusChange.objects.count() == 2  # the first batch; none of the second
    # when the schedule finds it stale and a worker runs it again
    monkeypatch.setattr(status_bulk, "customer_status_change", real)
    ChangeSet.objects.filter(pk=change_set_id).update(
        updated_at=timezone.now() - timedelta(seconds=301)
    )
    assert resume_change_sets.call() == 1
    drain()
    # then it went on from its cursor: every customer moved once
    change_set.refresh_from_db()
    assert change_set.state == "done"
    assert change_set.counts["customers"] == change_set.counts["added"] == 5
    assert sorted(StatusChange.objects.values_list("customer_id", flat=True)) == [
        c.pk for c in everyone
    ]


def test_a_label_gone_before_the_run_fails_it(backend, small, boss):
    archived = StatusLabel.objects.create(
        name="Archived", status=Status.objects.get(name="Inactive")
    )
    change_set_id = planned(boss, customers(4), archived)
    archived.delete()
    assert customers_status_change_run(change_set_id=change_set_id) == "failed"
    change_set = ChangeSet.objects.get(pk=change_set_id)
    assert change_set.error == "DoesNotExist"
    assert not StatusChange.objects.exists()
    assert Event.objects.filter(type="change_set.failed", change_set_id=change_set_id).exists()
