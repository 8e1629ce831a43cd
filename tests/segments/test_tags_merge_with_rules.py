"""A tag merge rewrites the segment rules naming its sources, from the segments side."""

import pytest

from config.exceptions import InvalidInput
from segments.models import Segment
from segments.selectors import tags_merge_preview_with_rules
from segments.services import segment_save, tags_merge_with_rules
from tags.models import Tag, TagAssignment
from tags.services import tags_merge
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    vip, dup = TagFactory(name="VIP"), TagFactory(name="vip2")
    TagFactory(name="other")
    holder = CustomerFactory()
    TagAssignmentFactory(customer=holder, tag=dup)
    naming = segment_save(
        segment=None, data={"name": "Naming", "rule": {"any": ["vip2", "other"]}}, actor=None
    )
    segment_save(segment=None, data={"name": "Elsewhere", "rule": {"all": ["other"]}}, actor=None)
    return vip, dup, naming


def test_the_preview_tells_what_the_merge_then_does(world):
    vip, dup, naming = world
    preview = tags_merge_preview_with_rules(sources=[dup], into=vip)
    done = tags_merge_with_rules(sources=[dup], into=vip, actor=None, reason="dedupe")
    assert (preview.moved, preview.segments) == (done.moved, done.segments) == (1, ("Naming",))
    assert Segment.objects.get(pk=naming.pk).rule["any"] == ["VIP", "other"]
    assert naming.history.latest().history_change_reason == "dedupe"
    assert TagAssignment.objects.get().tag_id == vip.pk


def test_the_tags_merge_alone_leaves_rules_to_the_segments(world):
    vip, dup, naming = world
    tags_merge(sources=[dup], into=vip, actor=None)
    # the rule still names the source, now an alias of the target
    assert Segment.objects.get(pk=naming.pk).rule["any"] == ["other", "vip2"]


def test_a_rule_the_rewrite_breaks_rolls_the_tags_merge_back(world):
    vip, dup, _ = world
    segment_save(
        segment=None, data={"name": "Odd", "rule": {"all": ["vip2"], "none": ["VIP"]}}, actor=None
    )
    with pytest.raises(InvalidInput, match="in both"):
        tags_merge_with_rules(sources=[dup], into=vip, actor=None)
    assert not Tag.objects.get(pk=dup.pk).is_deleted
    assert TagAssignment.objects.get().tag_id == dup.pk


def test_a_merge_without_a_reason_says_what_it_merged_and_a_second_one_does_nothing(world):
    vip, dup, _ = world
    done = tags_merge(sources=[dup], into=vip, actor=None)
    assert (done.reason, done.moved, [t.name for t in done.sources]) == (
        "merged 'vip2' into 'VIP'", 1, ["vip2"],
    )  # fmt: skip
    assert Tag.history.filter(id=dup.pk).latest("history_id").history_change_reason == (
        "merged 'vip2' into 'VIP'"
    )
    again = tags_merge(sources=[dup], into=vip, actor=None)
    assert (again.into, again.sources, again.moved, again.removed) == (vip, (), 0, 0)
