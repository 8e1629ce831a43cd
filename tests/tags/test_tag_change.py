"""TagChange: one request object for one customer and many, stamped the same way."""

from dataclasses import FrozenInstanceError
from datetime import UTC, datetime

import pytest

from tags.models import Tag, TagAssignment
from tags.services import TagChange, customer_tags_change, customers_retag
from tests.factories import CustomerFactory, TagFactory

pytestmark = pytest.mark.django_db
History = TagAssignment.history.model
EXPIRES = datetime(2099, 1, 1, tzinfo=UTC)


def test_a_change_is_frozen_and_keeps_no_caller_list():
    names = ["vip"]
    change = TagChange(add=names)
    names.append("late")
    assert change.add == ("vip",)
    with pytest.raises(FrozenInstanceError):
        change.reason = "edited"  # type: ignore[misc]
    with pytest.raises(TypeError):
        TagChange(["vip"])  # type: ignore[misc]  # keyword-only


def test_one_change_stamps_one_customer_and_many_alike_but_for_the_default_source():
    # given one request, applied to one customer and to a batch of two
    change = TagChange(
        add=["vip"], category="loyalty", expires_at=EXPIRES, reason="campaign", create_missing=True
    )
    one, *many = CustomerFactory.create_batch(3)
    # when
    single = customer_tags_change(customer=one, change=change, actor=None)
    bulk = customers_retag(batches=[[c.pk for c in many]], change=change, actor=None)
    # then the assignments differ only by the entry point's default source
    assert (single.added, bulk.tags_added) == (["vip"], 2)
    rows = TagAssignment.objects.order_by("source").values_list(
        "customer_id", "category", "expires_at", "source"
    )
    assert {(c, cat, exp) for c, cat, exp, _ in rows} == {
        (c.pk, "loyalty", EXPIRES) for c in (one, *many)
    }
    assert [source for *_, source in rows] == ["api", "bulk", "bulk"]
    assert set(History.objects.values_list("history_change_reason", flat=True)) == {"campaign"}
    # and an explicit source wins over both defaults
    other = CustomerFactory()
    customers_retag(
        batches=[[other.pk]], change=TagChange(add=["vip"], source="import"), actor=None
    )
    assert TagAssignment.objects.get(customer=other).source == "import"


def test_a_dry_run_counts_per_tag_with_the_tags_it_would_create_by_name():
    customers = CustomerFactory.create_batch(3)
    held, old = TagFactory(name="held"), TagFactory(name="old")
    TagAssignment.objects.create(customer=customers[0], tag=held)
    TagAssignment.objects.create(customer=customers[1], tag=old)
    before = (TagAssignment.objects.count(), History.objects.count(), Tag.objects.count())
    result = customers_retag(
        batches=[[c.pk for c in customers]],
        change=TagChange(add=["held", "brand new"], remove=["old"]),
        actor=None,
        dry_run=True,
    )
    assert result.created_tags == ["brand new"]
    assert (dict(result.added), dict(result.removed)) == ({"held": 2, "brand new": 3}, {"old": 1})
    assert (TagAssignment.objects.count(), History.objects.count(), Tag.objects.count()) == before


def test_the_lists_a_change_is_given_are_frozen_copies():
    # a request shared by every batch must not change under them when the caller's list does
    add, remove = ["vip"], ["prospect"]
    change = TagChange(add=add, remove=remove)
    add.append("gold"), remove.append("old")
    assert (change.add, change.remove) == (("vip",), ("prospect",))
