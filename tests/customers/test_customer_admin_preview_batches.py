"""The admin's Preview over a selection read batch by batch: the limit figure summed over every
batch, a select-across that matches nobody still previewed (and its tags still checked), and
a tag to create refused to a user who may tag but not create tags, as Apply would be."""

import pytest

from customers import admin as customer_admin
from customers.selectors import customer_id_batches
from tags.models import Tag
from tests.admin.pages import signed_in
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/customers/customer/"
REFUSED = "needs the permission tags.add_tag"


def preview(client, ids, query: str = "", **data):
    return client.post(
        f"{CHANGELIST}{query}",
        {"action": "add_tags", "_selected_action": ids, "apply": "1", "preview": "1", **data},
    )


@pytest.fixture
def batches_of_two(monkeypatch):
    monkeypatch.setattr(
        customer_admin, "customer_id_batches", lambda qs: customer_id_batches(qs, batch_size=2)
    )


@pytest.fixture
def tagger():
    """Staff who may tag customers but not create tags."""
    return signed_in(
        username="tagger",
        is_staff=True,
        perms=["customers.view_customer", "customers.tag_customer"],
    )


def test_customers_past_the_limit_are_summed_over_every_batch(boss, settings, batches_of_two):
    settings.MAX_TAGS_PER_CUSTOMER = 1
    TagFactory(name="vip")
    everyone = sorted(CustomerFactory.create_batch(5), key=lambda c: c.pk)
    for customer in (everyone[2], everyone[4]):  # in the second and the third batch
        TagAssignmentFactory(customer=customer, tag=TagFactory())
    page = preview(boss, [c.pk for c in everyone], tags="vip", reason="r")
    found = page.context["preview"]
    assert (found.matched, found.changed, found.over_limit) == (5, 5, 2)
    assert "2 customers would go past the limit of 1 tags" in page.content.decode()


def test_a_select_across_that_matches_nobody_is_previewed_and_its_tags_checked(
    boss, tagger, batches_of_two
):
    TagFactory(name="vip")
    TagFactory(name="nobody")  # held by no one: the filter matches no customer
    customer = CustomerFactory()
    across = {"query": "?tag=nobody", "select_across": "1", "reason": "r"}
    page = preview(boss, [customer.pk], tags="vip", **across)
    found = page.context["preview"]
    assert (found.matched, found.changed, found.over_limit, found.sample) == (0, 0, 0, [])
    assert page.context["figures"] == [("vip", 0)]
    # a tag to create: previewed for whoever may create it, refused to the others
    created = preview(boss, [customer.pk], tags="vip, fresh", create_missing="on", **across)
    assert created.context["preview"].created_tags == ["fresh"]
    refused = preview(tagger, [customer.pk], tags="vip, fresh", create_missing="on", **across)
    assert refused.context["preview"] is None
    assert REFUSED in refused.context["form"].non_field_errors()[0]
    assert not Tag.objects.filter(name="fresh").exists()


def test_a_tag_to_create_is_refused_to_a_user_who_may_not_create_tags(tagger, batches_of_two):
    everyone = CustomerFactory.create_batch(3)
    page = preview(tagger, [c.pk for c in everyone], tags="fresh", create_missing="on", reason="r")
    assert page.context["preview"] is None
    assert REFUSED in page.context["form"].non_field_errors()[0]
    assert not Tag.objects.filter(name="fresh").exists()
