"""merge_tags: every row a merge writes names the operator and the reason, and the rules it
rewrites keep their other tags."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from config.events.models import Event
from segments.models import Segment
from segments.services import segment_save
from tags.models import Tag, TagAssignment
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db
AssignmentHistory = TagAssignment.history.model


def merge(*args: str) -> str:
    out = StringIO()
    call_command("merge_tags", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def world():
    """'VIP' and two duplicates, one customer holding each, and a rule naming a duplicate
    next to a tag that is not merged."""
    vip, dup, old = (
        TagFactory(name="VIP"),
        TagFactory(name="vip_customer"),
        TagFactory(name="vip_old"),
    )
    gold, _ = TagFactory(name="gold"), TagFactory(name="silver")
    for tag in (dup, old):
        TagAssignmentFactory(customer=CustomerFactory(), tag=tag)
    segment = segment_save(
        segment=None,
        data={"name": "Gold dups", "rule": {"all": ["vip_customer", "gold"], "none": ["silver"]}},
        actor=None,
    )
    return vip, dup, old, gold, segment


def test_every_row_a_merge_writes_names_the_user_and_the_reason(world):
    vip, dup, old, _, segment = world
    ops = UserFactory(username="ops")
    merge("vip_customer", "vip_old", "--into", "VIP", "--user", "ops", "--reason", "dedupe")
    # assignments: the moves and the removals
    moved = AssignmentHistory.objects.filter(tag_id=vip.pk)
    taken = AssignmentHistory.objects.filter(tag_id__in=[dup.pk, old.pk], history_type="-")
    assert sorted(
        moved.values_list("history_type", "history_user_id", "history_change_reason")
    ) == [
        ("+", ops.pk, "dedupe"),
        ("+", ops.pk, "dedupe"),
    ]
    assert sorted(taken.values_list("history_user_id", "history_change_reason")) == [
        (ops.pk, "dedupe"),
        (ops.pk, "dedupe"),
    ]
    # the rewritten segment
    record = Segment.history.filter(id=segment.pk).latest("history_id")
    assert (record.history_user_id, record.history_change_reason) == (ops.pk, "dedupe")
    # the sources, deleted as aliases, and the target
    for tag in (dup, old, vip):
        record = Tag.history.filter(id=tag.pk).latest("history_id")
        assert (record.history_user_id, record.history_change_reason) == (ops.pk, "dedupe"), tag


def test_without_a_reason_the_history_says_what_was_merged_into_what(world):
    vip, dup, old, _, segment = world
    merge("vip_customer", "vip_old", "--into", "VIP")
    why = "merged 'vip_customer', 'vip_old' into 'VIP'"
    assert set(
        AssignmentHistory.objects.filter(tag_id__in=[vip.pk, dup.pk, old.pk])
        .exclude(history_change_reason=None)
        .values_list("history_change_reason", flat=True)
    ) == {why}
    assert AssignmentHistory.objects.filter(history_change_reason=why).count() == 4
    assert Segment.history.filter(id=segment.pk).latest("history_id").history_change_reason == why
    for tag in (dup, old, vip):
        assert Tag.history.filter(id=tag.pk).latest("history_id").history_change_reason == why


def test_a_rewritten_rule_keeps_its_other_tags_in_place(world):
    _, _, _, _, segment = world
    merge("vip_customer", "--into", "VIP")
    assert Segment.objects.get(pk=segment.pk).rule == {
        "all": ["VIP", "gold"],
        "any": [],
        "none": ["silver"],
        "status_labels": [],
    }


def test_a_dry_run_names_the_segments_it_would_rewrite(world):
    _, _, _, _, segment = world
    segment_save(segment=None, data={"name": "Another", "rule": {"any": ["vip_old"]}}, actor=None)
    segment_save(segment=None, data={"name": "Unrelated", "rule": {"any": ["gold"]}}, actor=None)
    out = merge("vip_customer", "vip_old", "--into", "VIP", "--dry-run")
    assert "and rewrite 2 segment(s): Another, Gold dups." in out
    assert Segment.objects.get(pk=segment.pk).rule["all"] == ["gold", "vip_customer"]


def test_a_rule_naming_a_source_only_in_none_is_rewritten_too(world):
    vip, _, _, _, _ = world
    shunned = segment_save(
        segment=None, data={"name": "No dups", "rule": {"none": ["vip_old"]}}, actor=None
    )
    out = merge("vip_old", "--into", "VIP")
    assert "rewrote 1 segment(s): No dups;" in out
    assert Segment.objects.get(pk=shunned.pk).rule["none"] == ["VIP"]
    assert list(shunned.tags_none.values_list("pk", flat=True)) == [vip.pk]


def test_a_source_already_merged_does_not_stop_the_others(world):
    vip, dup, old, _, _ = world
    merge("vip_old", "--into", "VIP")
    # the already merged one is named by its id (its name is an alias of the target now)
    out = merge(old.id, "vip_customer", "--into", "VIP")
    assert out.startswith("Merged 'vip_customer' into 'VIP': moved 1 assignment(s)")
    dup.refresh_from_db()
    assert (dup.is_deleted, dup.merged_into_id) == (True, vip.pk)
    assert TagAssignment.objects.filter(tag=vip).count() == 2


def test_one_merge_one_moment_its_events_share_the_time_of_its_history(world):
    merge("vip_customer", "vip_old", "--into", "VIP")
    moved = AssignmentHistory.objects.filter(history_change_reason__startswith="merged")
    assert moved.count() == 4  # two moved onto VIP, two taken off the sources
    found = Event.objects.filter(type__in=["tag.merged", "customer.tags_changed"])
    assert sorted(found.values_list("type", flat=True)) == [
        "customer.tags_changed", "customer.tags_changed", "tag.merged",
    ]  # fmt: skip
    (when,) = set(found.values_list("occurred_at", flat=True))
    dates = set(moved.values_list("history_date", flat=True))
    if connection.vendor == "sqlite":
        assert dates == {when}
    else:  # PostgreSQL dates each history row by the clock at its write (commit order)
        assert min(dates) >= when
