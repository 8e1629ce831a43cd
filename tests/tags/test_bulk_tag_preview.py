"""POST /customers/bulk_tag with "dry_run": true: what the change would do, per tag and per
customer, refused as the change itself would be, and nothing written."""

import pytest
from django.test import override_settings

from config.events.models import Event
from tags.models import ChangeSet, Tag, TagAssignment
from tests.conftest import make_client
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/customers/bulk_tag"
History = TagAssignment.history.model


def written() -> tuple:
    """Everything a bulk change writes, to compare before and after a dry run."""
    return (
        sorted(TagAssignment.objects.values_list("customer_id", "tag_id")),
        History.objects.count(),
        Event.objects.count(),
        ChangeSet.objects.count(),
        sorted(Tag.objects.values_list("name", flat=True)),
    )


def test_a_dry_run_counts_per_tag_and_writes_nothing(tagger):
    # given 4 customers: two hold "prospect", one already holds "vip"
    customers = sorted(CustomerFactory.create_batch(4), key=lambda c: c.pk)
    vip, prospect = TagFactory(name="vip"), TagFactory(name="prospect")
    TagAssignmentFactory(customer=customers[0], tag=prospect)
    TagAssignmentFactory(customer=customers[2], tag=prospect)
    TagAssignmentFactory(customer=customers[2], tag=vip)
    before = written()
    # when a dry run would add vip and a new tag, and remove prospect
    response = tagger.post(
        URL,
        {
            "customer_ids": [c.pk for c in customers] + ["01jbx6m2qf7d8h4kz9w3n5c0vt"],
            "tags_to_add": ["vip", "spring"],
            "tags_to_remove": ["prospect", "ghost"],
            "dry_run": True,
        },
        format="json",
    )
    # then the answer is the preview
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "dry_run": True,
        "change_set_id": None,
        "matched": 4,
        "tags_added": 3 + 4,
        "tags_removed": 2,
        "unknown_ids": ["01jbx6m2qf7d8h4kz9w3n5c0vt"],
        "warnings": ["'ghost' is not a tag"],
        "preview": {
            "changed": 4,
            "tags": [
                {"name": "vip", "gain": 3, "lose": 0},
                {"name": "spring", "gain": 4, "lose": 0},
                {"name": "prospect", "gain": 0, "lose": 2},
            ],
            "over_limit": 0,
            "created_tags": ["spring"],
            "sample": [c.pk for c in customers],
        },
    }
    # and nothing was written: no assignment, history row, event, change-set or tag
    assert written() == before


def test_the_sample_is_the_first_twenty_customers_the_change_changes(tagger):
    customers = sorted(CustomerFactory.create_batch(23), key=lambda c: c.pk)
    vip = TagFactory(name="vip")
    TagAssignmentFactory(customer=customers[0], tag=vip)  # unchanged: not in the sample
    response = tagger.post(
        URL, {"customer_ids": [c.pk for c in customers], "tags_to_add": ["vip"], "dry_run": True},
        format="json",
    )  # fmt: skip
    preview = response.json()["preview"]
    assert preview["changed"] == 22
    assert preview["sample"] == [c.pk for c in customers[1:21]]


@override_settings(MAX_TAGS_PER_CUSTOMER=2)
def test_a_dry_run_counts_the_customers_the_change_would_take_past_the_limit(tagger):
    # given one customer at the limit, one at the limit but losing a tag, and one below it
    full, swapping, roomy = sorted(CustomerFactory.create_batch(3), key=lambda c: c.pk)
    a, b = TagFactory(name="a"), TagFactory(name="b")
    for customer in (full, swapping):
        TagAssignmentFactory(customer=customer, tag=a)
        TagAssignmentFactory(customer=customer, tag=b)
    TagAssignmentFactory(customer=roomy, tag=a)
    TagFactory(name="extra")
    body = {"customer_ids": [full.pk, swapping.pk, roomy.pk], "tags_to_add": ["extra"]}
    # when the preview is asked for adding "extra"
    preview = tagger.post(URL, {**body, "dry_run": True}, format="json").json()["preview"]
    # then the customers at the limit count, and the real change is refused for them
    assert preview["over_limit"] == 2
    refused = tagger.post(URL, body, format="json")
    assert refused.json()["errors"][0]["code"] == "too_many_tags"
    # and removing a tag on the way makes room, as the write itself does
    swap = {**body, "tags_to_remove": ["b"], "dry_run": True}
    assert tagger.post(URL, swap, format="json").json()["preview"]["over_limit"] == 0


def test_a_dry_run_is_refused_as_the_change_would_be():
    customer = CustomerFactory()
    TagFactory(name="gone", is_deleted=True)
    # a token that may tag but not create tags
    client = make_client("customers.view_customer", "customers.tag_customer", "tags.view_tag")
    base = {"customer_ids": [customer.pk], "dry_run": True}
    new_tag = client.post(URL, {**base, "tags_to_add": ["brand-new"]}, format="json")
    assert (new_tag.status_code, new_tag.json()["errors"][0]["attr"]) == (403, "tags_to_add")
    unknown = client.post(
        URL, {**base, "tags_to_add": ["brand-new"], "create_missing": False}, format="json"
    )
    assert (unknown.status_code, unknown.json()["errors"][0]["code"]) == (400, "unknown_tags")
    deleted = client.post(URL, {**base, "tags_to_add": ["gone"]}, format="json")
    assert deleted.status_code == 409
    assert not Tag.objects.filter(name="brand-new").exists()


def test_a_dry_run_creating_no_tag_needs_no_permission_to_create_tags():
    customer = CustomerFactory()
    TagFactory(name="vip")
    client = make_client("customers.view_customer", "customers.tag_customer", "tags.view_tag")
    response = client.post(
        URL, {"customer_ids": [customer.pk], "tags_to_add": ["VIP"], "dry_run": True},
        format="json",
    )  # fmt: skip
    assert response.status_code == 200, response.json()
    assert response.json()["preview"]["tags"] == [{"name": "vip", "gain": 1, "lose": 0}]


def test_dry_run_must_be_a_boolean(tagger):
    customer = CustomerFactory()
    response = tagger.post(
        URL, {"customer_ids": [customer.pk], "tags_to_add": ["vip"], "dry_run": "yes"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "dry_run"


def test_a_dry_run_over_many_customers_costs_a_few_queries(tagger, django_assert_max_num_queries):
    customers = CustomerFactory.create_batch(30)
    TagFactory(name="vip")
    body = {"customer_ids": [c.pk for c in customers], "tags_to_add": ["vip"], "dry_run": True}
    # authentication, the selection, the tags, two counts: not one per customer
    with django_assert_max_num_queries(8):
        response = tagger.post(URL, body, format="json")
    assert response.json()["preview"]["changed"] == 30
