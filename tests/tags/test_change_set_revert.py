"""Reverting a change-set: exactly what it changed, per customer and tag, only where the state is
still what it left; conflicts counted and listed; metadata restored; a revert reverted; refused
when running, reverted already or too old."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from config.events.models import Event
from config.exceptions import Conflict
from tags.models import ChangeSet, TagAssignment
from tags.services import TagChange, customer_tags_change
from tags.services.change_sets import change_set_revert
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db
History = TagAssignment.history.model


def retag(*args: str) -> ChangeSet:
    call_command("retag", *args, stdout=StringIO(), stderr=StringIO())
    return ChangeSet.objects.order_by("-id").first()


def assignments() -> dict:
    """Every assignment with what a revert must bring back as it was."""
    return {
        (a.customer_id, a.tag.name): (
            a.category,
            a.source,
            a.expires_at,
            a.assigned_by_id,
            a.created_at,
        )
        for a in TagAssignment.objects.select_related("tag")
    }


@pytest.fixture
def world():
    """4 customers; two hold "prospect" with metadata of their own, one holds "vip"."""
    seller = UserFactory(username="seller")
    customers = sorted(CustomerFactory.create_batch(4), key=lambda c: c.pk)
    prospect, vip = TagFactory(name="prospect"), TagFactory(name="vip")
    later = timezone.now() + timedelta(days=90)
    for customer in customers[:2]:
        TagAssignmentFactory(
            customer=customer,
            tag=prospect,
            category="funnel",
            source="crm",
            expires_at=later,
            assigned_by=seller,
        )
    TagAssignmentFactory(customer=customers[3], tag=vip)
    return customers


def test_a_revert_undoes_exactly_what_the_change_set_changed(world):
    before = assignments()
    original = retag("--all", "--add", "vip", "--remove", "prospect", "--batch-size", "2")
    assert (original.counts["added"], original.counts["removed"]) == (3, 2)
    ops = UserFactory(username="ops")
    # when it is reverted
    revert = change_set_revert(change_set=original, actor=ops, reason="oops")
    # then every assignment is as it was, metadata and dates included
    assert assignments() == before
    # and the revert is a change-set of its own, the original marked reverted
    original.refresh_from_db()
    assert original.state == "reverted"
    assert (revert.kind, revert.state, revert.reverts, revert.created_by) == (
        "revert", "done", original, ops,
    )  # fmt: skip
    assert (revert.add, revert.remove, revert.reason) == (["prospect"], ["vip"], "oops")
    assert revert.counts == {
        "customers": 3, "added": 2, "removed": 3, "conflicts": 0, "skipped_limit": 0,
    }  # fmt: skip
    assert revert.conflicts == []
    # and its history rows and events carry its id
    rows = History.objects.filter(change_set_id=revert.pk)
    assert sorted(rows.values_list("history_type", flat=True)) == ["+", "+", "-", "-", "-"]
    assert set(rows.values_list("history_user_id", "history_change_reason")) == {(ops.pk, "oops")}
    of_revert = Event.objects.filter(change_set_id=revert.pk)
    assert sorted(of_revert.values_list("type", flat=True)) == [
        "change_set.completed", "change_set.reverted", *["customer.tags_changed"] * 3,
    ]  # fmt: skip
    reverted = of_revert.get(type="change_set.reverted")
    assert (reverted.subject_id, reverted.data["reverted_by"]) == (original.pk, revert.pk)


def test_what_changed_since_is_a_conflict_left_as_it_is(world):
    a, b, c, d = world
    original = retag("--all", "--add", "vip", "--remove", "prospect")
    # given, since: vip taken off a; prospect given back to b; vip taken off c and given again
    customer_tags_change(customer=a, change=TagChange(remove=("vip",)), actor=None)
    customer_tags_change(customer=b, change=TagChange(add=("prospect",)), actor=None)
    customer_tags_change(customer=c, change=TagChange(remove=("vip",)), actor=None)
    customer_tags_change(customer=c, change=TagChange(add=("vip",), source="manual"), actor=None)
    # when the change-set is reverted
    revert = change_set_revert(change_set=original, actor=None)
    # then only the pairs still as it left them are undone: a's prospect comes back, b's vip goes
    held = {(x.customer_id, x.tag.name, x.source) for x in TagAssignment.objects.all()}
    assert held == {
        (a.pk, "prospect", "crm"),
        (b.pk, "prospect", "api"),  # re-added since: kept as it is, not the old one
        (c.pk, "vip", "manual"),  # re-added since: kept
        (d.pk, "vip", "api"),  # held before the change-set: never its to undo
    }
    assert revert.counts["conflicts"] == 3
    assert (revert.counts["added"], revert.counts["removed"]) == (1, 1)
    assert sorted((x["customer_id"], x["tag"], x["change"]) for x in revert.conflicts) == sorted(
        [(a.pk, "vip", "added"), (b.pk, "prospect", "removed"), (c.pk, "vip", "added")]
    )


def test_a_revert_can_be_reverted(world):
    original = retag("--all", "--add", "vip", "--remove", "prospect", "--category", "x")
    after = assignments()
    revert = change_set_revert(change_set=original, actor=None)
    # when the revert itself is reverted
    again = change_set_revert(change_set=revert, actor=None)
    # then the original's changes are back, as it made them
    assert assignments() == after
    revert.refresh_from_db()
    assert (revert.state, again.reverts, again.counts["conflicts"]) == ("reverted", revert, 0)


def test_a_revert_in_small_batches_does_the_same(world):
    before = assignments()
    original = retag("--all", "--add", "vip", "--remove", "prospect")
    revert = change_set_revert(change_set=original, actor=None, batch_size=2)
    assert assignments() == before
    assert revert.cursor == str(
        History.objects.filter(change_set_id=original.pk).latest("history_id").history_id
    )


def test_a_change_set_is_reverted_once(world):
    original = retag("--all", "--add", "vip")
    change_set_revert(change_set=original, actor=None)
    with pytest.raises(Conflict, match="reverted"):
        change_set_revert(change_set=original, actor=None)
    assert ChangeSet.objects.filter(kind="revert").count() == 1


def test_a_running_change_set_cannot_be_reverted(world):
    running = ChangeSet.objects.create(kind="retag", state="running")
    with pytest.raises(Conflict, match="running") as refused:
        change_set_revert(change_set=running, actor=None)
    assert refused.value.code == "not_revertible"


@override_settings(CHANGE_SET_RETENTION_DAYS=7)
def test_a_change_set_older_than_the_retention_window_is_refused(world):
    original = retag("--all", "--add", "vip")
    ChangeSet.objects.filter(pk=original.pk).update(
        finished_at=timezone.now() - timedelta(days=7, minutes=1)
    )
    original.refresh_from_db()
    with pytest.raises(Conflict, match="more than 7 days") as refused:
        change_set_revert(change_set=original, actor=None)
    assert refused.value.code == "revert_window_closed"
    assert not ChangeSet.objects.filter(kind="revert").exists()
    assert TagAssignment.objects.filter(tag__name="vip").count() == 4


def test_an_assignment_refreshed_in_place_since_is_a_conflict(world):
    # given a change-set that gave vip with an expiry already past, and the tag call giving it
    # again since: the expired assignment is refreshed in place (same row, a new start)
    a = world[0]
    original = retag("--all", "--add", "vip", "--expires", "2020-01-01")
    customer_tags_change(customer=a, change=TagChange(add=("vip",), source="manual"), actor=None)
    # when the change-set is reverted
    revert = change_set_revert(change_set=original, actor=None)
    # then a's refreshed vip is kept, a conflict
    assert TagAssignment.objects.get(customer=a, tag__name="vip").source == "manual"
    assert [(x["customer_id"], x["change"]) for x in revert.conflicts] == [(a.pk, "added")]


# --- retag --revert ID --------------------------------------------------------------------------


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("retag", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_retag_revert_undoes_a_change_set_and_reports_its_conflicts(world):
    before = assignments()
    original = retag("--all", "--add", "vip", "--remove", "prospect")
    customer_tags_change(customer=world[2], change=TagChange(remove=("vip",)), actor=None)
    UserFactory(username="ops")
    out, _ = run("--revert", original.pk.upper(), "--user", "ops", "--batch-size", "2")
    revert = ChangeSet.objects.get(kind="revert")
    assert (revert.created_by.username, revert.reason) == ("ops", f"revert of {original.pk}")
    assert out.splitlines() == [
        f"  conflict: vip added on {world[2].pk} changed since, left as it is",
        f"Change-set {original.pk} reverted by change-set {revert.pk}: 2 assignment(s) "
        f"restored, 2 removed, 1 conflict(s) in {out.split(' in ')[-1].strip()}",
    ]
    assert assignments() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--revert", "nope"), "No change-set 'nope'."),
        (("--revert", "01jbx6m2qf7d8h4kz9w3n5c0vt"), "No change-set"),
        (("--revert", "X", "--all"), "--revert takes no selection or change (got --all)."),
        (("--revert", "X", "--add", "vip"), "(got --add)"),
        (("--revert", "X", "--user", "nobody"), "No user named 'nobody'."),
    ],
)
def test_retag_revert_refuses_bad_input_with_one_line(world, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        run(*args)
    assert not ChangeSet.objects.exists()


def test_retag_revert_of_a_reverted_change_set_says_why(world):
    original = retag("--all", "--add", "vip")
    run("--revert", original.pk)
    with pytest.raises(CommandError, match="has been reverted already"):
        run("--revert", original.pk)
