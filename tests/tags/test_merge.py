"""merge_tags: assignments move, rules follow, old names live on as aliases."""

from collections import Counter
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from segments.models import Segment
from segments.selectors import segment_members
from segments.services import segment_save
from tags.models import Tag, TagAssignment
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory

pytestmark = pytest.mark.django_db
History = TagAssignment.history.model


def merge(*args: str) -> str:
    out = StringIO()
    call_command("merge_tags", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def world():
    """Three customers: one with 'VIP' only, one with 'vip_customer' only, one with both."""
    vip, dup = TagFactory(name="VIP"), TagFactory(name="vip_customer")
    only_vip, only_dup, both = CustomerFactory.create_batch(3)
    TagAssignmentFactory(customer=only_vip, tag=vip)
    TagAssignmentFactory(customer=only_dup, tag=dup, category="crm", source="import")
    TagAssignmentFactory(customer=both, tag=vip)
    TagAssignmentFactory(customer=both, tag=dup)
    return vip, dup, (only_vip, only_dup, both)


def test_merge_moves_assignments_and_a_customer_holding_both_keeps_one(world):
    vip, dup, customers = world
    out = merge("vip_customer", "--into", "VIP", "--reason", "dedupe")
    assert "moved 1 assignment(s) (1 customer(s) already had 'VIP')" in out
    for customer in customers:
        assert list(
            TagAssignment.objects.filter(customer=customer).values_list("tag__name", flat=True)
        ) == ["VIP"]
    moved = TagAssignment.objects.get(customer=customers[1])
    assert (moved.category, moved.source) == ("crm", "import")  # the assignment kept its details
    dup.refresh_from_db()
    assert (dup.is_deleted, dup.merged_into_id) == (True, vip.id)
    history = History.objects.filter(history_change_reason="dedupe")
    assert Counter(history.values_list("tag__name", "history_type")) == {
        ("VIP", "+"): 1,
        ("vip_customer", "-"): 2,
    }
    assert Tag.history.filter(id=dup.id, history_change_reason="dedupe", is_deleted=True).exists()


def test_running_it_again_changes_nothing(world):
    merge("vip_customer", "--into", "VIP")
    before = (TagAssignment.objects.count(), History.objects.count(), Tag.history.count())
    assert "Nothing to do" in merge("vip_customer", "--into", "VIP")
    assert (TagAssignment.objects.count(), History.objects.count(), Tag.history.count()) == before


def test_the_old_name_resolves_in_the_tag_endpoint_and_segment_rules(world, client_with, tag_api):
    vip, dup, customers = world
    segment = segment_save(
        segment=None, data={"name": "Dup fans", "rule": {"all": ["vip_customer"]}}, actor=None
    )
    merge("vip_customer", "--into", "VIP")
    # the existing rule was rewritten to the target
    segment = Segment.objects.get(pk=segment.pk)
    assert segment.rule["all"] == ["VIP"]
    assert set(segment_members(segment).values_list("pk", flat=True)) == {c.id for c in customers}
    # a new rule naming the old tag resolves to the target
    again = segment_save(
        segment=None, data={"name": "Old name", "rule": {"any": ["VIP_CUSTOMER"]}}, actor=None
    )
    assert list(again.tags_any.values_list("name", flat=True)) == ["VIP"]
    # tagging with the old name gives the target tag
    newcomer = CustomerFactory()
    tagger = client_with("customers.view_customer", "customers.tag_customer", "tags.view_tag")
    response = tagger.post(
        f"/api/v1/customers/{newcomer.id}/tag", {"tags_to_add": ["vip_customer"]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["current_tags"] == ["VIP"]
    # filtering customers by the old name finds the target's holders
    listing = tagger.get("/api/v1/customers/", {"tags": "vip_customer", "limit": 50})
    assert len(listing.json()["customers"]) == 4
    # the alias shows on the target's API object; the source says where it went
    shown = tag_api.get(f"/api/v1/customer_tags/{vip.id}").json()["customer_tag"]
    assert (shown["aliases"], shown["merged_into"]) == (["vip_customer"], None)
    source = tag_api.get(f"/api/v1/customer_tags/{dup.id}").json()["customer_tag"]
    assert (source["is_deleted"], source["merged_into"]) == (True, vip.id)
    # a merged tag cannot be restored, nor its name taken again
    restore = tag_api.post(f"/api/v1/customer_tags/{dup.id}/restore", {}, format="json")
    assert restore.status_code == 409
    assert restore.json()["errors"][0]["code"] == "customer_tag_merged"
    create = tag_api.post("/api/v1/customer_tags/", {"name": "VIP_Customer"}, format="json")
    assert create.status_code == 409
    assert "alias" in create.json()["errors"][0]["detail"]


def test_merging_into_a_tag_that_was_itself_merged_away_is_refused_and_chains_flatten(world):
    _, dup, _ = world
    gold = TagFactory(name="gold")
    merge("vip_customer", "--into", "VIP")
    merge("VIP", "--into", "gold")
    assert Tag.objects.get(pk=dup.pk).merged_into_id == gold.id  # one level deep
    with pytest.raises(CommandError, match="merged into"):
        merge("gold", "--into", "VIP")


def test_dry_run_counts_and_writes_nothing(world):
    before = (TagAssignment.objects.count(), History.objects.count(), Tag.history.count())
    out = merge("vip_customer", "--into", "VIP", "--dry-run")
    assert "would move 1 assignment(s) (1 customer(s) already have 'VIP')" in out
    assert (TagAssignment.objects.count(), History.objects.count(), Tag.history.count()) == before


def test_a_rule_that_would_hold_the_target_twice_refuses_the_whole_merge(world):
    _, dup, _ = world
    segment_save(
        segment=None,
        data={"name": "Odd", "rule": {"all": ["vip_customer"], "none": ["VIP"]}},
        actor=None,
    )
    before = (TagAssignment.objects.count(), History.objects.count(), Tag.history.count())
    with pytest.raises(CommandError, match="in both"):
        merge("vip_customer", "--into", "VIP")
    assert (TagAssignment.objects.count(), History.objects.count(), Tag.history.count()) == before
    assert not Tag.objects.get(pk=dup.pk).is_deleted


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "--into", "VIP"], "No tag named 'nope'"),
        (["vip_customer", "--into", "nope"], "No tag named 'nope'"),
        (["VIP", "--into", "vip"], "into itself"),
        (["vip_customer", "--into", "VIP", "--user", "ghost"], "No user named 'ghost'"),
    ],
)
def test_bad_input_is_a_clear_error(world, args, message):
    before = (TagAssignment.objects.count(), History.objects.count())
    with pytest.raises(CommandError, match=message):
        merge(*args)
    assert (TagAssignment.objects.count(), History.objects.count()) == before


def test_a_deleted_source_or_target_is_refused(world):
    _, dup, _ = world
    Tag.objects.filter(pk=dup.pk).update(is_deleted=True)
    with pytest.raises(CommandError, match="restore it first"):
        merge("vip_customer", "--into", "VIP")
