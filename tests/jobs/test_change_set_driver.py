"""What every background kind shares (``change_set_background``, reached through
``change_set_run``): it starts only the change-set it was given, stamps when it started, leaves
one that is gone alone, hands its batch size to the kind's run, and re-resolves a tag change's
tags as planned, without asking for the planner's permissions again."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser, Permission
from django.test import override_settings
from django.utils import timezone

from customers.models import Customer
from statuses.models import StatusChange, StatusLabel
from tags.models import ChangeSet, Tag, TagAssignment
from tags.services import (
    ChangeSetPlan,
    TagChange,
    change_set_revert,
    change_set_run,
    change_sets,
    change_sets_stale,
    customers_retag,
    status_bulk,
)
from tests.conftest import make_client
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.jobs, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def inactive():
    return StatusLabel.objects.get(name="Inactive")


def status_planned(n: int, label: StatusLabel, actor=None) -> ChangeSet:
    return status_bulk.customers_status_change_plan(
        customer_ids=[c.pk for c in CustomerFactory.create_batch(n)],
        label=label,
        reason="r",
        actor=actor,
        selection={"admin": {"selected": n}},
    )


def test_a_run_starts_only_its_own_change_set_and_stamps_when(inactive):
    first, second = status_planned(2, inactive), status_planned(2, inactive)
    assert change_set_run(change_set_id=first.pk) == "done"
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.started_at is not None
    assert first.started_at <= first.finished_at
    assert (second.state, second.started_at) == ("planned", None)
    assert StatusChange.objects.filter(change_set_id=second.pk).count() == 0


def test_a_change_set_that_is_gone_is_left_alone():
    assert change_set_run(change_set_id="01ARZ3NDEKTSV4RRFFQ69G5FAV") == ""
    assert status_bulk.customers_status_change_run(change_set_id="01ARZ3NDEKTSV4RRFFQ69G5FAV") == ""


def test_the_batch_size_reaches_a_status_run(inactive, monkeypatch):
    change_set = status_planned(3, inactive)
    batches = []
    real = status_bulk._batch
    monkeypatch.setattr(
        status_bulk, "_batch", lambda ids, *a, **k: batches.append(list(ids)) or real(ids, *a, **k)
    )
    assert change_set_run(change_set_id=change_set.pk, batch_size=1) == "done"
    assert [len(ids) for ids in batches] == [1, 1, 1]


def test_the_batch_size_reaches_a_revert(monkeypatch, settings):
    settings.CHANGE_SET_SYNC_MAX = 1
    customers = CustomerFactory.create_batch(3)
    original = customers_retag(
        batches=[[c.pk for c in customers]],
        change=TagChange(add=["vip"], reason="seed", create_missing=True),
        actor=None,
        plan=ChangeSetPlan(kind="retag", selection={"all": True}),
    ).change_set
    revert = change_set_revert(change_set=original, actor=None, background=True)
    assert revert.state == "planned"
    calls = []
    original_revert = change_sets.assignments_revert
    monkeypatch.setattr(
        change_sets,
        "assignments_revert",
        lambda **k: calls.append((k["low"], k["high"])) or original_revert(**k),
    )
    assert change_set_run(change_set_id=revert.pk, batch_size=1) == "done"
    assert len(calls) == 3  # one history row a batch
    assert not TagAssignment.objects.exists()


def test_a_status_plan_records_the_selection_and_no_anonymous_author(inactive):
    for actor in (None, AnonymousUser()):
        change_set = status_planned(1, inactive, actor=actor)
        assert change_set.created_by is None
        assert change_set.selection == {"admin": {"selected": 1}}


def test_refused_customers_kept_stop_at_the_limit(inactive, monkeypatch):
    monkeypatch.setattr(status_bulk, "CONFLICTS_LISTED", 2)
    locked = StatusLabel.objects.create(name="Locked", status=inactive.status)
    locked.allowed_next.set([StatusLabel.objects.get(name="Active")])
    change_set = status_planned(3, inactive)
    Customer.objects.filter(pk__in=change_set.customer_ids).update(status_label=locked)
    assert change_set_run(change_set_id=change_set.pk) == "done"
    change_set.refresh_from_db()
    assert change_set.counts["conflicts"] == 3
    assert len(change_set.conflicts) == 2


def test_a_tag_run_recreates_a_tag_deleted_since_the_plan_without_asking_again():
    # given a background bulk_tag planned by someone who could create tags then
    tagger = make_client("customers.tag_customer", "customers.view_customer", "tags.add_tag")
    customers = CustomerFactory.create_batch(2)
    with override_settings(CHANGE_SET_SYNC_MAX=1):
        response = tagger.post(
            "/api/v1/customers/bulk_tag",
            {"customer_ids": [c.pk for c in customers], "tags_to_add": ["spring"]},
            format="json",
        )
    assert response.status_code == 202
    change_set_id = response.json()["change_set_id"]
    # when the tag it created is gone before the run, and so is the planner's permission
    Tag.objects.filter(name="spring").delete()
    tagger.user.user_permissions.remove(Permission.objects.get(codename="add_tag"))
    assert change_set_run(change_set_id=change_set_id) == "done"
    # then the run made it again, in the planner's name, and tagged everyone
    spring = Tag.objects.get(name="spring")
    assert spring.history.earliest("history_id").history_user_id == tagger.user.pk
    assert TagAssignment.objects.filter(tag=spring).count() == 2


def test_a_run_marks_its_change_set_fresh_before_its_first_batch(inactive, monkeypatch):
    # a change-set planned long ago is not taken for a lost one while its run gets going
    change_set = status_planned(2, inactive)
    ChangeSet.objects.filter(pk=change_set.pk).update(updated_at=timezone.now() - timedelta(days=1))
    stale_at_first_batch = []
    real = status_bulk._run_batch

    def first_batch(*args, **kwargs):
        if not stale_at_first_batch:
            stale_at_first_batch.append(change_sets_stale())
        return real(*args, **kwargs)

    monkeypatch.setattr(status_bulk, "_run_batch", first_batch)
    assert change_set_run(change_set_id=change_set.pk) == "done"
    assert stale_at_first_batch == [[]]
