"""A revert's record, exactly: what it says it reverts and for whom, the events it writes, the
refusals word for word and at the retention boundary, the conflicts it lists (its own
change-set's only, at most 100 over every batch), and a revert that breaks."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from freezegun import freeze_time

from config.events.models import Event
from config.exceptions import Conflict
from tags.models import ChangeSet, TagAssignment
from tags.services import ChangeSetPlan, TagChange, customers_retag
from tags.services import change_sets as change_sets_module
from tags.services.change_sets import CONFLICTS_LISTED, change_set_revert
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db
History = TagAssignment.history.model


def customers(n: int) -> list:
    return sorted(CustomerFactory.create_batch(n), key=lambda c: c.pk)


def tag(batches, *, add=(), remove=(), reason="r") -> ChangeSet:
    """A bulk change recorded as a change-set, batch by batch as given."""
    return customers_retag(
        batches=batches,
        change=TagChange(add=add, remove=remove, reason=reason),
        actor=None,
        plan=ChangeSetPlan(kind=ChangeSet.Kind.RETAG, selection={"all": True}),
    ).change_set


def test_a_revert_names_what_it_reverts_for_whom_and_writes_its_events():
    # given a change-set that gave 3 customers two tags each
    everyone = customers(3)
    original = tag([[c.pk for c in everyone]], add=("vip", "gold"), reason="promo")
    reverter = UserFactory(username="reverter")
    # when it is reverted without a reason
    revert = change_set_revert(change_set=original, actor=reverter)
    # then the revert says what it reverts, for how many customers, and who asked
    assert revert.reason == f"revert of {original.pk}"
    assert (revert.selection, revert.total, revert.created_by) == (
        {"change_set": original.pk}, 3, reverter,
    )  # fmt: skip
    assert (revert.add, revert.remove) == ([], ["vip", "gold"])
    assert revert.started_at is not None
    assert revert.started_at <= revert.finished_at
    assert not TagAssignment.objects.exists()
    # and each customer's event carries its reason and the batch's clock: on SQLite the time
    # of its history rows (PostgreSQL dates each history row by the clock at its write)
    rows = History.objects.filter(change_set_id=revert.pk)
    assert set(rows.values_list("history_user_id", "history_change_reason")) == {
        (reverter.pk, revert.reason)
    }
    events = Event.objects.filter(type="customer.tags_changed", change_set_id=revert.pk)
    assert sorted(e.customer_id for e in events) == [c.pk for c in everyone]
    for event in events:
        assert event.data["reason"] == revert.reason
        assert sorted(r["name"] for r in event.data["removed"]) == ["gold", "vip"]
        assert revert.started_at <= event.occurred_at <= revert.finished_at
        if connection.vendor == "sqlite":
            assert {r.history_date for r in rows.filter(customer_id=event.customer_id)} == {
                event.occurred_at
            }
    # and one change_set.reverted event about the original, with the revert's counts
    original.refresh_from_db()
    reverted = Event.objects.get(type="change_set.reverted")
    assert (reverted.subject_id, reverted.change_set_id) == (original.pk, revert.pk)
    assert reverted.data == {
        "kind": "retag", "state": "reverted", "add": ["vip", "gold"], "remove": [],
        "counts": revert.counts, "reason": "promo", "reverted_by": revert.pk,
    }  # fmt: skip
    assert revert.counts == {
        "customers": 3, "added": 0, "removed": 6, "conflicts": 0, "skipped_limit": 0,
    }  # fmt: skip


def test_the_refusals_say_exactly_why(settings):
    merge = ChangeSet.objects.create(kind="merge", state="done")
    with pytest.raises(Conflict) as refused:
        change_set_revert(change_set=merge, actor=None)
    assert (str(refused.value), refused.value.code) == (
        "A merge change-set cannot be reverted.", "not_revertible",
    )  # fmt: skip
    running = ChangeSet.objects.create(kind="retag", state="running")
    with pytest.raises(Conflict) as refused:
        change_set_revert(change_set=running, actor=None)
    assert str(refused.value) == (
        f"Change-set {running.pk} is running: only a done, failed or cancelled change-set can "
        "be reverted."
    )
    settings.CHANGE_SET_RETENTION_DAYS = 7
    old = ChangeSet.objects.create(
        kind="retag", state="done", finished_at=timezone.now() - timedelta(days=7, seconds=1)
    )
    with pytest.raises(Conflict) as refused:
        change_set_revert(change_set=old, actor=None)
    assert str(refused.value) == (
        f"Change-set {old.pk} finished more than 7 days ago (CHANGE_SET_RETENTION_DAYS): it "
        "can no longer be reverted."
    )


def test_a_change_set_exactly_as_old_as_the_window_can_still_be_reverted(settings):
    settings.CHANGE_SET_RETENTION_DAYS = 7
    everyone = customers(1)
    with freeze_time("2026-01-01 12:00:00"):
        original = tag([[everyone[0].pk]], add=("vip",))
    with freeze_time(original.finished_at + timedelta(days=7)):
        revert = change_set_revert(change_set=original, actor=None, reason="just in time")
    assert revert.state == "done"
    assert not TagAssignment.objects.exists()


def test_conflicts_listed_are_the_first_100_over_every_batch():
    # given a change-set over 130 customers, all of them changed again since
    everyone = customers(130)
    ids = [c.pk for c in everyone]
    original = tag([ids], add=("vip",))
    tag([ids], remove=("vip",))
    # when it is reverted 60 history rows a batch
    revert = change_set_revert(change_set=original, actor=None, reason="undo", batch_size=60)
    # then every pair is a conflict, and the first 100 are listed once each, in order
    assert revert.counts["conflicts"] == 130
    assert len(revert.conflicts) == CONFLICTS_LISTED == 100
    assert [c["customer_id"] for c in revert.conflicts] == ids[:100]
    assert {(c["tag"], c["change"]) for c in revert.conflicts} == {("vip", "added")}


def test_conflicts_are_the_reverted_change_sets_own_rows():
    # given a change-set whose batches another change ran between
    a, b, c = customers(3)

    def batches():
        yield [a.pk]
        tag([[c.pk]], add=("vip",))  # another change-set, its history row in between
        yield [b.pk]

    original = tag(batches(), add=("vip",))
    tag([[a.pk, b.pk, c.pk]], remove=("vip",))
    # when it is reverted (in one batch of history rows)
    revert = change_set_revert(change_set=original, actor=None, reason="undo")
    # then the conflicts are its two customers, not the other change-set's
    assert sorted(x["customer_id"] for x in revert.conflicts) == sorted([a.pk, b.pk])
    assert revert.counts["conflicts"] == 2


def test_a_revert_that_breaks_is_failed_and_the_original_keeps_its_state(monkeypatch):
    everyone = customers(2)
    original = tag([[c.pk for c in everyone]], add=("vip",))
    calls = []
    real = change_sets_module.assignments_revert

    def second_batch_breaks(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(**kwargs)

    monkeypatch.setattr(change_sets_module, "assignments_revert", second_batch_breaks)
    with pytest.raises(RuntimeError):
        change_set_revert(change_set=original, actor=None, reason="undo", batch_size=1)
    revert = ChangeSet.objects.get(kind="revert")
    assert (revert.state, revert.error) == ("failed", "RuntimeError")
    assert revert.counts["removed"] == 1  # the batch that committed
    assert ChangeSet.objects.get(pk=original.pk).state == "done"
    assert Event.objects.filter(type="change_set.failed", change_set_id=revert.pk).count() == 1
    assert not Event.objects.filter(type="change_set.reverted").exists()
    # and the original cannot be reverted a second time meanwhile
    with pytest.raises(Conflict) as refused:
        change_set_revert(change_set=original, actor=None)
    assert refused.value.code == "not_revertible"
    assert str(refused.value).startswith(f"Change-set {original.pk} ")


def test_a_revert_that_gives_tags_back_writes_their_events():
    # given a change-set that took "prospect" off two customers
    everyone = customers(2)
    tag([[c.pk for c in everyone]], add=("prospect",))
    original = tag([[c.pk for c in everyone]], remove=("prospect",))
    # when it is reverted
    revert = change_set_revert(change_set=original, actor=None, reason="undo")
    # then each customer has it back, with an event saying so
    assert revert.counts["added"] == 2
    events = Event.objects.filter(type="customer.tags_changed", change_set_id=revert.pk)
    assert sorted(e.customer_id for e in events) == [c.pk for c in everyone]
    for event in events:
        assert ([a["name"] for a in event.data["added"]], event.data["removed"]) == (
            ["prospect"], [],
        )  # fmt: skip
