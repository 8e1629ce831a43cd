"""A tag merge and the admin's "Change status…" are bulk changes too: each is recorded as one
change-set (kind ``merge`` / ``status``) whose id its history rows, status changes and events
carry; neither can be reverted in one step (409)."""

from io import StringIO

import pytest
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command

from config.events.models import Event
from config.exceptions import InvalidInput
from customers.models import Customer
from customers.services import customer_status_change
from segments.services import segment_save
from statuses.models import Status, StatusChange, StatusLabel
from tags.models import ChangeSet, Tag, TagAssignment
from tags.services import customers_status_change, status_bulk
from tests.conftest import make_client
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db
History = TagAssignment.history.model
URL = "/api/v1/change_sets/"
CHANGELIST = "/admin/customers/customer/"


def merge(*args: str) -> str:
    out = StringIO()
    call_command("merge_tags", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def world():
    """'keep' and two duplicates: one customer holds 'dup1' only, one 'dup1' and 'keep', one
    'dup2' only, one nothing."""
    keep, dup1, dup2 = TagFactory(name="keep"), TagFactory(name="dup1"), TagFactory(name="dup2")
    only1, both, only2, _none = CustomerFactory.create_batch(4)
    TagAssignmentFactory(customer=only1, tag=dup1)
    TagAssignmentFactory(customer=both, tag=dup1)
    TagAssignmentFactory(customer=both, tag=keep)
    TagAssignmentFactory(customer=only2, tag=dup2)
    UserFactory(username="ops")
    return keep, (only1, both, only2)


# --- merge ------------------------------------------------------------------------------------


def test_a_merge_is_one_merge_change_set_its_rows_and_events_carry(world):
    _keep, customers = world
    out = merge("dup1", "dup2", "--into", "keep", "--reason", "dedupe", "--user", "ops")
    (change_set,) = ChangeSet.objects.all()
    assert f"Recorded as change-set {change_set.pk}." in out
    assert (change_set.kind, change_set.state, change_set.created_by.username) == (
        "merge", "done", "ops",
    )  # fmt: skip
    assert (change_set.reason, change_set.add, sorted(change_set.remove)) == (
        "dedupe", ["keep"], ["dup1", "dup2"],
    )  # fmt: skip
    assert sorted(change_set.selection["tags"]) == ["dup1", "dup2"]
    # three customers held a source; two got 'keep' from it, three source assignments went
    assert change_set.counts == {
        "customers": 3, "added": 2, "removed": 3, "conflicts": 0, "skipped_limit": 0,
    }  # fmt: skip
    assert (change_set.total, change_set.progress) == (3, 1.0)
    assert change_set.started_at <= change_set.finished_at
    # every assignment history row of the merge carries its id
    written = History.objects.filter(history_change_reason="dedupe")
    assert written.count() == 5
    assert set(written.values_list("change_set_id", flat=True)) == {change_set.pk}
    assert set(written.values_list("customer_id", flat=True)) == {c.pk for c in customers}
    # and so do its events: the tag's, each customer's, and its own completion
    events = Event.objects.filter(
        type__in=["tag.merged", "customer.tags_changed", "change_set.completed"]
    )
    assert sorted(events.values_list("type", flat=True)) == [
        "change_set.completed", *["customer.tags_changed"] * 3, "tag.merged",
    ]  # fmt: skip
    assert set(events.values_list("change_set_id", flat=True)) == {change_set.pk}
    completed = events.get(type="change_set.completed")
    assert (completed.subject_id, completed.data["kind"]) == (change_set.pk, "merge")
    assert completed.data["counts"] == change_set.counts


def test_a_merge_that_changes_nothing_records_no_change_set(world):
    merge("dup1", "--into", "keep")
    assert ChangeSet.objects.count() == 1
    out = merge("dup1", "--into", "keep")
    assert "Nothing to do" in out
    assert ChangeSet.objects.count() == 1
    assert Event.objects.filter(type="change_set.completed").count() == 1


def test_a_merge_of_tags_nobody_holds_is_recorded_with_zero_counts():
    TagFactory(name="keep"), TagFactory(name="unused")
    merge("unused", "--into", "keep")
    (change_set,) = ChangeSet.objects.all()
    assert (change_set.kind, change_set.state, change_set.total) == ("merge", "done", 0)
    assert change_set.counts["customers"] == change_set.counts["removed"] == 0


def test_a_refused_merge_records_nothing(world):
    # a rule that would hold the target in two lists refuses the whole merge, after the
    # assignments moved: the change-set goes with them
    segment_save(
        segment=None,
        data={"name": "Odd", "rule": {"all": ["dup1"], "none": ["keep"]}},
        actor=None,
    )
    with pytest.raises(CommandError, match="in both"):
        merge("dup1", "--into", "keep")
    assert not ChangeSet.objects.exists()
    assert not Event.objects.filter(type="change_set.completed").exists()


@pytest.fixture
def reverter():
    return make_client("tags.view_changeset", "tags.change_changeset", "customers.tag_customer")


def test_reverting_a_merge_is_a_409_and_changes_nothing(world, reverter):
    merge("dup1", "dup2", "--into", "keep")
    change_set = ChangeSet.objects.get()
    before = sorted(TagAssignment.objects.values_list("customer_id", "tag_id"))
    response = reverter.post(f"{URL}{change_set.pk}/revert", {}, format="json")
    assert response.status_code == 409
    (error,) = response.json()["errors"]
    assert error["code"] == "not_revertible"
    assert "merge" in error["detail"]
    assert sorted(TagAssignment.objects.values_list("customer_id", "tag_id")) == before
    change_set.refresh_from_db()
    assert change_set.state == "done"
    assert ChangeSet.objects.count() == 1


# --- the admin's "Change status…" -------------------------------------------------------------


@pytest.fixture
def statuses():
    """Two active customers, one already inactive, one 'Locked' (may move only to Active)."""
    active = StatusLabel.objects.get(name="Active")
    inactive = StatusLabel.objects.get(name="Inactive")
    locked = StatusLabel.objects.create(name="Locked", status=Status.objects.get(name="Active"))
    locked.allowed_next.set([active])
    movers = CustomerFactory.create_batch(2)
    already = CustomerFactory()
    Customer.objects.filter(pk=already.pk).update(status_label=inactive)
    stuck = CustomerFactory()
    Customer.objects.filter(pk=stuck.pk).update(status_label=locked)
    return inactive, movers, already, stuck


def label_of(customer) -> str:
    return Customer.objects.select_related("status_label").get(pk=customer.pk).status_label.name


def test_the_admin_status_action_is_one_status_change_set(boss, statuses):
    inactive, movers, already, stuck = statuses
    ids = [c.pk for c in [*movers, already, stuck]]
    done = boss.post(
        CHANGELIST,
        {"action": "change_status", "_selected_action": ids, "apply": "1",
         "label": inactive.pk, "reason": "moved away"},
    )  # fmt: skip
    assert done.status_code == 302
    (change_set,) = ChangeSet.objects.all()
    assert (change_set.kind, change_set.state, change_set.created_by) == (
        "status", "done", boss.user,
    )  # fmt: skip
    assert (change_set.selection, change_set.add, change_set.remove, change_set.reason) == (
        {"admin": {"selected": 4}}, ["Inactive"], [], "moved away",
    )  # fmt: skip
    # four processed: two moved, one refused (a conflict, listed with why), one already had it
    assert change_set.counts == {
        "customers": 4, "added": 2, "removed": 0, "conflicts": 1, "skipped_limit": 0,
    }  # fmt: skip
    ((refused_id, why),) = [(c["customer_id"], c["reason"]) for c in change_set.conflicts]
    assert refused_id == stuck.pk
    assert why.startswith("A customer labelled 'Locked' cannot move to 'Inactive'; allowed:")
    assert (change_set.total, change_set.progress) == (4, 1.0)
    assert change_set.started_at <= change_set.finished_at
    # the status changes and their events carry its id
    changes = StatusChange.objects.filter(reason="moved away")
    assert sorted(changes.values_list("customer_id", flat=True)) == sorted(c.pk for c in movers)
    assert set(changes.values_list("change_set_id", flat=True)) == {change_set.pk}
    events = Event.objects.filter(type__in=["customer.status_changed", "change_set.completed"])
    assert sorted(events.values_list("type", "customer_id")) == sorted(
        [("change_set.completed", None)] + [("customer.status_changed", c.pk) for c in movers]
    )
    assert set(events.values_list("change_set_id", flat=True)) == {change_set.pk}
    # the refused customer kept its label, and the operator is told why
    assert (label_of(stuck), label_of(already)) == ("Locked", "Inactive")
    messages = [str(m) for m in get_messages(done.wsgi_request)]
    assert any(f"Recorded as change-set {change_set.pk}" in m for m in messages)
    assert any("cannot move to 'Inactive'" in m for m in messages)


def test_a_status_change_across_a_filter_records_the_selection_and_total(boss, statuses):
    inactive, movers, _already, _stuck = statuses
    vip = TagFactory(name="vip")
    for customer in movers:
        TagAssignmentFactory(customer=customer, tag=vip)
    done = boss.post(
        f"{CHANGELIST}?tag={vip.pk}",
        {"action": "change_status", "_selected_action": [movers[0].pk], "select_across": "1",
         "apply": "1", "label": inactive.pk, "reason": "all of them"},
    )  # fmt: skip
    assert done.status_code == 302
    (change_set,) = ChangeSet.objects.all()
    assert (change_set.selection, change_set.total) == ({"admin": {"select_across": True}}, 2)
    assert (change_set.counts["customers"], change_set.counts["added"]) == (2, 2)
    assert change_set.cursor == max(c.pk for c in movers)


def test_a_single_status_change_carries_no_change_set(statuses):
    inactive, movers, _already, _stuck = statuses
    customer_status_change(
        customer=movers[0], label=inactive, reason="one", source="ADMIN", actor=None
    )
    assert StatusChange.objects.get(reason="one").change_set_id is None
    assert Event.objects.get(type="customer.status_changed").change_set_id is None
    assert not ChangeSet.objects.exists()


def test_a_blank_reason_is_refused_before_anything_is_recorded(statuses):
    inactive, movers, _already, _stuck = statuses
    with pytest.raises(InvalidInput) as refused:
        customers_status_change(
            batches=[[c.pk for c in movers]], label=inactive, reason="  ", actor=None,
            selection={},
        )  # fmt: skip
    assert refused.value.attr == "reason"
    assert not ChangeSet.objects.exists()
    assert not StatusChange.objects.exists()


def test_a_status_run_stopped_by_an_error_is_failed_with_the_batches_before_it(
    statuses, monkeypatch
):
    inactive, movers, _already, _stuck = statuses
    real = status_bulk.customer_status_change

    def breaks_on_the_second(**kwargs):
        if kwargs["customer"].pk == movers[1].pk:
            raise RuntimeError("disk full")
        return real(**kwargs)

    monkeypatch.setattr(status_bulk, "customer_status_change", breaks_on_the_second)
    with pytest.raises(RuntimeError):
        customers_status_change(
            batches=[[movers[0].pk], [movers[1].pk]], label=inactive, reason="r",
            actor=None, selection={},
        )  # fmt: skip
    (change_set,) = ChangeSet.objects.all()
    assert (change_set.state, change_set.error) == ("failed", "RuntimeError")
    assert change_set.counts["customers"] == 1  # the first batch's, committed
    assert change_set.cursor == movers[0].pk
    assert (label_of(movers[0]), label_of(movers[1])) == ("Inactive", "Active")
    assert Event.objects.filter(type="change_set.failed", change_set_id=change_set.pk).exists()


def test_reverting_a_status_change_set_is_a_409(statuses, reverter):
    inactive, movers, _already, _stuck = statuses
    result = customers_status_change(
        batches=[[c.pk for c in movers]], label=inactive, reason="r", actor=None, selection={}
    )
    response = reverter.post(f"{URL}{result.change_set.pk}/revert", {}, format="json")
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "not_revertible"
    assert label_of(movers[0]) == "Inactive"


# --- the API lists them -----------------------------------------------------------------------


def test_the_api_lists_merge_and_status_change_sets_by_kind(world, statuses):
    inactive, movers, _already, _stuck = statuses
    merge("dup1", "--into", "keep")
    status = customers_status_change(
        batches=[[c.pk for c in movers]], label=inactive, reason="r", actor=None,
        selection={"admin": {"selected": 2}},
    ).change_set  # fmt: skip
    merged = ChangeSet.objects.get(kind="merge")
    reader = make_client("tags.view_changeset")
    (found,) = reader.get(URL, {"kind": "merge"}).json()["change_sets"]
    assert (found["id"], found["add"], found["remove"]) == (merged.pk, ["keep"], ["dup1"])
    assert found["selection"] == {"tags": ["dup1"]}
    assert found["counts"]["customers"] == 2
    (found,) = reader.get(URL, {"kind": "status"}).json()["change_sets"]
    assert (found["id"], found["add"], found["state"]) == (status.pk, ["Inactive"], "done")
    assert found["counts"]["customers"] == 2
    assert Tag.objects.get(name="dup1").merged_into.name == "keep"
