"""What a change-set records about itself, exactly, at the edges: nobody as the author of an
anonymous caller's, ``running`` while it runs, a revert's own state and options, the refusal
of a revert that loses the race to another, the conflicts of a revert that breaks, a revert of
a change-set that changed nothing, a tag deleted for good, and a planned run's
``create_missing``."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import override_settings

from config.exceptions import Conflict
from tags.models import ChangeSet, Tag, TagAssignment
from tags.services import (
    ChangeSetPlan,
    TagChange,
    change_set_cancel,
    change_set_plan,
    change_set_revert,
    change_set_revert_request,
    change_set_run,
    customers_retag,
    tag_hard_delete,
)
from tags.services import change_sets as change_sets_module
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory

pytestmark = pytest.mark.django_db


def customers(n: int) -> list:
    return sorted(CustomerFactory.create_batch(n), key=lambda c: c.pk)


def tag(everyone: list, *, add=(), remove=(), actor=None, on_batch=None) -> ChangeSet:
    return customers_retag(
        batches=[[c.pk for c in everyone]],
        change=TagChange(add=add, remove=remove, reason="r"),
        actor=actor,
        on_batch=on_batch,
        plan=ChangeSetPlan(kind="retag"),
    ).change_set


def test_an_anonymous_caller_is_recorded_as_nobody_and_a_run_is_running_while_it_runs():
    TagFactory(name="vip")
    everyone = customers(2)
    anonymous = AnonymousUser()
    # a run, seen from its own batch
    states = []
    done = tag(
        everyone,
        add=("vip",),
        actor=anonymous,
        on_batch=lambda result, n: states.append(
            ChangeSet.objects.get(pk=result.change_set.pk).state
        ),
    )
    assert states == ["running"]
    assert (done.state, done.created_by) == ("done", None)
    # a background plan, and a revert
    planned, _ = change_set_plan(
        customer_ids=[c.pk for c in everyone],
        change=TagChange(add=("vip",), reason="r"),
        actor=anonymous,
        selection={},
    )
    assert ChangeSet.objects.get(pk=planned.pk).created_by is None
    revert = change_set_revert(change_set=done, actor=anonymous)
    assert (revert.state, ChangeSet.objects.get(pk=revert.pk).created_by) == ("done", None)


def test_a_revert_in_the_request_is_no_background_run_and_a_planned_one_has_not_started():
    everyone = customers(2)
    first = tag(everyone, add=("vip",))
    now = change_set_revert(change_set=first, actor=None, background=True)
    assert (now.state, now.options) == ("done", {})
    with pytest.raises(Conflict) as refused:
        change_set_cancel(change_set=now)
    assert "does not run in the background" in str(refused.value)
    second = tag(everyone, add=("gold",))
    with override_settings(CHANGE_SET_SYNC_MAX=1):
        later = change_set_revert(change_set=second, actor=None, background=True)
    stored = ChangeSet.objects.get(pk=later.pk)
    assert (stored.state, stored.started_at) == ("planned", None)
    assert stored.options == {"background": True}


def test_a_revert_asked_without_a_reason_says_what_it_reverts():
    original = tag(customers(1), add=("vip",))
    revert = change_set_revert_request(change_set=original, actor=None)
    assert (revert.state, revert.reason) == ("done", f"revert of {original.pk}")


def test_a_revert_that_loses_the_race_to_another_is_refused_as_reverted_already(monkeypatch):
    original = tag(customers(1), add=("vip",))
    real_create = ChangeSet.objects.create

    def another_revert_first(**fields):
        # another revert of the same change-set is recorded between the check and this insert
        real_create(kind="revert", state="running", reverts=original)
        return real_create(**fields)

    monkeypatch.setattr(change_sets_module.ChangeSet.objects, "create", another_revert_first)
    with pytest.raises(Conflict) as refused:
        change_set_revert(change_set=original, actor=None)
    assert (str(refused.value), refused.value.code) == (
        f"Change-set {original.pk} has been reverted already.", "not_revertible",
    )  # fmt: skip


def test_a_revert_that_breaks_keeps_the_conflicts_its_batches_listed(monkeypatch):
    everyone = customers(2)
    original = tag(everyone, add=("vip",))
    tag(everyone[:1], remove=("vip",))  # changed again since: a conflict
    calls = []
    real = change_sets_module.assignments_revert

    def second_batch_breaks(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(**kwargs)

    monkeypatch.setattr(change_sets_module, "assignments_revert", second_batch_breaks)
    with pytest.raises(RuntimeError):
        change_set_revert(change_set=original, actor=None, batch_size=1)
    failed = ChangeSet.objects.get(kind="revert")
    assert (failed.state, failed.counts["conflicts"]) == ("failed", 1)
    assert [(c["customer_id"], c["tag"], c["change"]) for c in failed.conflicts] == [
        (everyone[0].pk, "vip", "added")
    ]


def test_a_revert_of_a_change_set_that_changed_nothing_is_done_and_changes_nothing():
    vip = TagFactory(name="vip")
    everyone = customers(2)
    for customer in everyone:
        TagAssignmentFactory(customer=customer, tag=vip)
    original = tag(everyone, add=("vip",))  # everyone held it already
    assert (original.state, original.counts["added"]) == ("done", 0)
    revert = change_set_revert(change_set=original, actor=None)
    assert (revert.state, revert.total, revert.counts["customers"]) == ("done", 0, 0)
    assert ChangeSet.objects.get(pk=original.pk).state == "reverted"
    assert TagAssignment.objects.count() == 2


def test_a_conflict_on_a_tag_deleted_for_good_names_no_tag():
    everyone = customers(1)
    original = tag(everyone, add=("vip",))
    vip = Tag.objects.get(name="vip")
    tag_hard_delete(tag=vip, actor=None, reason="gone")
    revert = change_set_revert(change_set=original, actor=None)
    assert revert.conflicts == [
        {"customer_id": everyone[0].pk, "tag_id": vip.pk, "tag": "", "change": "added"}
    ]


def test_a_planned_run_creates_a_tag_deleted_since_only_if_the_plan_said_so():
    everyone = customers(2)
    TagFactory(name="vip")
    plans = {
        create_missing: change_set_plan(
            customer_ids=[c.pk for c in everyone],
            change=TagChange(add=("vip",), reason="r", create_missing=create_missing),
            actor=None,
            selection={},
        )[0]
        for create_missing in (True, False)
    }
    Tag.objects.filter(name="vip").delete()
    assert change_set_run(change_set_id=plans[False].pk) == "failed"
    assert ChangeSet.objects.get(pk=plans[False].pk).error == (
        "Unknown tag(s): vip (create_missing is false)."
    )
    assert change_set_run(change_set_id=plans[True].pk) == "done"
    assert TagAssignment.objects.filter(tag__name="vip").count() == 2
