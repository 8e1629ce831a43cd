"""A change-set's bookkeeping, exactly: what a background run plans and carries through to the
rows it writes, its counts across batches, the events that open and close it, cancel and the
stale sweep. In the test's process (the job tests drive the same runs through a worker)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from config.events.models import Event
from config.exceptions import Conflict
from tags.models import ChangeSet, Tag, TagAssignment
from tags.services import TagChange, change_set_cancel, change_set_plan, change_set_run
from tags.services.change_sets import change_sets_stale
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db
History = TagAssignment.history.model


def customers(n: int) -> list:
    return sorted(CustomerFactory.create_batch(n), key=lambda c: c.pk)


@pytest.fixture
def operator():
    return UserFactory(username="operator", perms=["tags.add_tag"])


def test_a_background_run_carries_every_part_of_the_change_to_the_rows(operator):
    # given 3 customers, the first holding "old"
    everyone = customers(3)
    TagAssignmentFactory(customer=everyone[0], tag=TagFactory(name="old"))
    TagFactory(name="vip")
    until = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    change = TagChange(
        add=("vip", "fresh"), remove=("old",), create_missing=True, source="crm",
        category="promo", expires_at=until, reason="spring drive",
    )  # fmt: skip
    # when it is planned
    planned, warnings = change_set_plan(
        customer_ids=[c.pk for c in everyone],
        change=change,
        actor=operator,
        selection={"customer_ids": 3},
    )
    # then the plan holds the change, whole, and the tag to create exists, created by its user
    planned.refresh_from_db()
    assert warnings == []
    assert (planned.kind, planned.state, planned.created_by) == ("bulk_tag", "planned", operator)
    assert (planned.selection, planned.total, planned.started_at) == ({"customer_ids": 3}, 3, None)
    assert (planned.add, planned.remove, planned.reason) == (
        ["vip", "fresh"], ["old"], "spring drive",
    )  # fmt: skip
    assert planned.options == {
        "background": True, "category": "promo", "source": "crm",
        "expires_at": until.isoformat(), "create_missing": True,
    }  # fmt: skip
    assert Tag.history.get(name="fresh").history_user == operator
    # when it runs, two customers a batch
    assert change_set_run(change_set_id=planned.pk, batch_size=2) == "done"
    # then every assignment it wrote carries the change's metadata and its user
    written = TagAssignment.objects.filter(tag__name__in=["vip", "fresh"])
    assert sorted(
        (a.customer_id, a.tag.name, a.category, a.source, a.expires_at, a.assigned_by_id)
        for a in written.select_related("tag")
    ) == sorted(
        (c.pk, name, "promo", "crm", until, operator.pk)
        for c in everyone
        for name in ("vip", "fresh")
    )
    assert not TagAssignment.objects.filter(tag__name="old").exists()
    rows = History.objects.filter(change_set_id=planned.pk)
    assert rows.count() == 7
    assert set(rows.values_list("history_change_reason", "history_user_id")) == {
        ("spring drive", operator.pk)
    }
    # and the change-set counts every batch once, from its start to its finish
    done = ChangeSet.objects.get(pk=planned.pk)
    assert done.counts == {
        "customers": 3, "added": 6, "removed": 1, "conflicts": 0, "skipped_limit": 0,
    }  # fmt: skip
    assert (done.cursor, done.state) == (everyone[-1].pk, "done")
    assert done.started_at is not None
    assert done.started_at <= done.finished_at
    events = Event.objects.filter(change_set_id=planned.pk)
    assert {e.data["reason"] for e in events.filter(type="customer.tags_changed")} == {
        "spring drive"
    }
    assert events.get(type="change_set.completed").data == {
        "kind": "bulk_tag", "state": "done", "add": ["vip", "fresh"], "remove": ["old"],
        "counts": done.counts, "reason": "spring drive",
    }  # fmt: skip


def test_a_background_run_without_a_source_writes_the_bulk_one():
    everyone = customers(2)
    planned, _ = change_set_plan(
        customer_ids=[c.pk for c in everyone],
        change=TagChange(add=("vip",), reason="r"),
        actor=None,
        selection={},
    )
    assert planned.options["source"] == "bulk"
    assert planned.created_by is None
    change_set_run(change_set_id=planned.pk)
    assert set(TagAssignment.objects.values_list("source", "category", "expires_at")) == {
        ("bulk", "", None)
    }


def test_removals_are_counted_across_batches():
    everyone = customers(3)
    old = TagFactory(name="old")
    for customer in everyone:
        TagAssignmentFactory(customer=customer, tag=old)
    planned, _ = change_set_plan(
        customer_ids=[c.pk for c in everyone],
        change=TagChange(remove=("old",), reason="r"),
        actor=None,
        selection={},
    )
    change_set_run(change_set_id=planned.pk, batch_size=1)
    planned.refresh_from_db()
    assert (planned.counts["customers"], planned.counts["removed"]) == (3, 3)


def test_a_run_starts_its_own_change_set_only_and_leaves_a_finished_one_alone():
    everyone = customers(2)
    plans = [
        change_set_plan(
            customer_ids=[c.pk for c in everyone],
            change=TagChange(add=(name,), reason="r"),
            actor=None,
            selection={},
        )[0]
        for name in ("one", "two")
    ]
    assert change_set_run(change_set_id=plans[0].pk) == "done"
    other = ChangeSet.objects.get(pk=plans[1].pk)
    assert (other.state, other.started_at) == ("planned", None)
    # a finished one is not run again, an unknown one is nothing
    updated = ChangeSet.objects.get(pk=plans[0].pk).updated_at
    assert change_set_run(change_set_id=plans[0].pk) == "done"
    assert ChangeSet.objects.get(pk=plans[0].pk).updated_at == updated
    assert change_set_run(change_set_id="01JBX6M2QF7D8H4KZ9W3N5C0VT") == ""


def test_a_failed_run_closes_with_its_error_and_one_event_about_it():
    everyone = customers(2)
    planned, _ = change_set_plan(
        customer_ids=[c.pk for c in everyone],
        change=TagChange(add=("vip",), reason="r"),
        actor=None,
        selection={},
    )
    Tag.objects.filter(name="vip").update(is_active=False)  # refused when the run resolves it
    assert change_set_run(change_set_id=planned.pk) == "failed"
    failed = ChangeSet.objects.get(pk=planned.pk)
    event = Event.objects.get(type="change_set.failed")
    assert (event.subject_id, event.change_set_id) == (failed.pk, failed.pk)
    assert event.data["error"] == failed.error != ""
    assert event.data["state"] == "failed"


def test_cancel_says_why_it_refuses_and_stamps_the_end():
    synchronous = ChangeSet.objects.create(kind="retag", state="running")
    with pytest.raises(Conflict) as refused:
        change_set_cancel(change_set=synchronous)
    assert str(refused.value) == (
        f"Change-set {synchronous.pk} does not run in the background: only a background run "
        "can be cancelled."
    )
    finished = ChangeSet.objects.create(kind="bulk_tag", state="done", options={"background": True})
    with pytest.raises(Conflict) as refused:
        change_set_cancel(change_set=finished)
    assert str(refused.value) == (
        f"Change-set {finished.pk} is done: only a planned or running change-set can be cancelled."
    )
    planned = ChangeSet.objects.create(kind="bulk_tag", options={"background": True})
    before = timezone.now()
    cancelled = change_set_cancel(change_set=planned)
    stored = ChangeSet.objects.get(pk=planned.pk)
    assert (stored.state, cancelled.state) == ("cancelled", "cancelled")
    assert stored.finished_at is not None
    assert stored.finished_at >= before


def test_the_stale_sweep_finds_background_runs_without_progress_only(settings):
    settings.CHANGE_SET_STALE_SECONDS = 60
    background = {"background": True}
    stale = [
        ChangeSet.objects.create(kind="bulk_tag", state="planned", options=background),
        ChangeSet.objects.create(kind="bulk_tag", state="running", options=background),
    ]
    left = [
        ChangeSet.objects.create(kind="bulk_tag", state="done", options=background),
        ChangeSet.objects.create(kind="bulk_tag", state="cancelled", options=background),
        ChangeSet.objects.create(kind="retag", state="running"),
    ]
    old = timezone.now() - timedelta(seconds=61)
    ChangeSet.objects.filter(pk__in=[c.pk for c in stale + left]).update(updated_at=old)
    ChangeSet.objects.create(kind="bulk_tag", state="running", options=background)  # fresh
    assert sorted(change_sets_stale()) == sorted(c.pk for c in stale)
