"""Every bulk run is recorded as a change-set: who, why, which customers, what it changed, how it
went; its history rows and events carry its id; a refused or dry run records none."""

from io import StringIO

import pytest
from django.core.management import call_command

from config.events.models import Event
from segments.services import segment_save
from tags.models import ChangeSet, TagAssignment
from tags.services import bulk
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db
History = TagAssignment.history.model


def retag(*args: str) -> str:
    out = StringIO()
    call_command("retag", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_a_retag_run_is_one_change_set_from_start_to_finish():
    # given 5 customers, one holding "prospect", and an operator
    ops = UserFactory(username="ops")
    customers = sorted(CustomerFactory.create_batch(5), key=lambda c: c.pk)
    TagAssignmentFactory(customer=customers[1], tag=TagFactory(name="prospect"))
    # when retag adds vip and removes prospect, two customers a batch
    out = retag("--all", "--add", "vip", "--remove", "prospect", "--reason", "Q3",
                "--user", "ops", "--batch-size", "2")  # fmt: skip
    # then one change-set records the whole run
    (change_set,) = ChangeSet.objects.all()
    assert f"Change-set {change_set.pk}" in out
    assert (change_set.kind, change_set.state, change_set.created_by) == ("retag", "done", ops)
    assert (change_set.selection, change_set.add, change_set.remove, change_set.reason) == (
        {"all": True}, ["vip"], ["prospect"], "Q3",
    )  # fmt: skip
    assert change_set.counts == {
        "customers": 5, "added": 5, "removed": 1, "conflicts": 0, "skipped_limit": 0,
    }  # fmt: skip
    assert (change_set.total, change_set.progress) == (5, 1.0)
    assert change_set.cursor == customers[-1].pk
    assert change_set.started_at <= change_set.finished_at
    # and every history row and event it wrote carries its id
    written = History.objects.filter(history_change_reason="Q3")
    assert written.count() == 6
    assert set(written.values_list("change_set_id", flat=True)) == {change_set.pk}
    # (the tag it created on the way was created before the run began)
    run_events = Event.objects.exclude(type="tag.created")
    assert sorted(run_events.values_list("type", flat=True)) == [
        "change_set.completed", *["customer.tags_changed"] * 5,
    ]  # fmt: skip
    assert set(run_events.values_list("change_set_id", flat=True)) == {change_set.pk}


def test_the_selection_is_recorded_as_the_operator_gave_it(tmp_path):
    customers = CustomerFactory.create_batch(2)
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(c.pk for c in customers))
    retag("--customers", str(ids), "--add", "vip")
    holder = TagAssignmentFactory(tag=TagFactory(name="loyal")).customer
    retag("--has-tag", "LOYAL", "--add", "vip")
    segment = segment_save(
        segment=None, data={"name": "Loyal ones", "rule": {"all": ["loyal"]}}, actor=None
    )
    retag("--segment", "Loyal ones", "--remove", "vip")
    assert [(c.selection, c.total) for c in ChangeSet.objects.order_by("id")] == [
        ({"file": str(ids), "column": None, "identify_by": "id"}, 2),
        ({"has_tags": ["loyal"]}, 1),
        ({"segment": {"id": segment.pk, "name": "Loyal ones"}}, 1),
    ]
    assert holder.pk not in {c.pk for c in customers}


def test_a_dry_run_records_no_change_set():
    CustomerFactory()
    retag("--all", "--add", "vip", "--dry-run")
    assert not ChangeSet.objects.exists()


def test_a_run_stopped_by_an_error_is_failed_with_what_its_committed_batches_did(monkeypatch):
    # given 4 customers retagged two a batch, the second batch failing after its writes
    customers = sorted(CustomerFactory.create_batch(4), key=lambda c: c.pk)
    real = bulk.assignments_apply
    calls = []

    def apply_then_fail(**kwargs):
        counts = real(**kwargs)
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return counts

    monkeypatch.setattr(bulk, "assignments_apply", apply_then_fail)
    with pytest.raises(RuntimeError):
        retag("--all", "--add", "vip", "--batch-size", "2")
    # then the change-set is failed, counting the first batch only, its cursor after it
    (change_set,) = ChangeSet.objects.all()
    assert (change_set.state, change_set.error) == ("failed", "RuntimeError")
    assert (change_set.counts["customers"], change_set.counts["added"]) == (2, 2)
    assert change_set.cursor == customers[1].pk
    assert change_set.progress == 0.5
    assert change_set.finished_at is not None
    (failed,) = Event.objects.filter(type="change_set.failed")
    assert failed.data["counts"] == change_set.counts


def test_a_refused_bulk_tag_records_nothing(tagger):
    # given a tag to add that does not exist, and create_missing off
    customer = CustomerFactory()
    response = tagger.post(
        "/api/v1/customers/bulk_tag",
        {"customer_ids": [customer.pk], "tags_to_add": ["nope"], "create_missing": False},
        format="json",
    )
    # then the request is refused and no change-set (nor event) is left
    assert response.status_code == 400
    assert not ChangeSet.objects.exists()
    assert not Event.objects.exists()


def test_a_bulk_tag_is_a_change_set_with_its_selection(tagger):
    customers = CustomerFactory.create_batch(2)
    response = tagger.post(
        "/api/v1/customers/bulk_tag",
        {"customer_ids": [c.pk for c in customers], "tags_to_add": ["vip"], "reason": "promo"},
        format="json",
    )
    assert response.status_code == 200
    change_set = ChangeSet.objects.get(pk=response.json()["change_set_id"])
    assert (change_set.kind, change_set.state, change_set.created_by) == (
        "bulk_tag", "done", tagger.user,
    )  # fmt: skip
    assert change_set.selection == {"customer_ids": 2}
    assert (change_set.counts["customers"], change_set.counts["added"]) == (2, 2)
