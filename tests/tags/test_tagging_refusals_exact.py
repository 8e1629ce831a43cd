"""The tagging service's own refusals, exactly as an integrator reads them, and the history of
the tags it creates on the way."""

import pytest
from django.utils import timezone

from tags.models import Tag, TagAssignment
from tests.conftest import make_client
from tests.factories import CustomerFactory, TagFactory

pytestmark = pytest.mark.django_db


def tag(client, customer, **body):
    return client.post(f"/api/v1/customers/{customer.id}/tag", body, format="json")


@pytest.mark.parametrize("field", ["tags_to_add", "tags_to_remove"])
def test_the_names_per_list_setting_is_enforced_at_its_boundary(tagger, settings, field):
    # given a service limit below the request schema's own 100
    settings.MAX_TAG_NAMES_PER_REQUEST = 3
    customer = CustomerFactory()
    # when a list holds exactly the limit, it is accepted
    assert tag(tagger, customer, **{field: ["a", "b", "c"]}).status_code == 200
    # and one more is refused, naming the list and both numbers
    response = tag(tagger, customer, **{field: ["a", "b", "c", "d"]})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"code": "max_length", "detail": "At most 3 tag names per list; got 4.", "attr": field}
    ]
    assert Tag.objects.filter(name="d").count() == 0


def test_a_list_of_exactly_100_names_is_accepted(tagger):
    customer = CustomerFactory()
    names = [f"n{i}" for i in range(100)]
    response = tag(tagger, customer, tags_to_add=names)
    assert response.status_code == 200, response.json()
    assert response.json()["tag_count"] == 100


def test_creating_a_tag_while_tagging_without_tags_add_tag_is_a_403_naming_it():
    customer = CustomerFactory()
    TagFactory(name="known")
    client = make_client("customers.view_customer", "customers.tag_customer")
    response = tag(client, customer, tags_to_add=["known", "Brand New", "other one"])
    assert response.status_code == 403
    assert response.json()["errors"] == [
        {
            "code": "permission_denied",
            "detail": "Creating the tag(s) Brand New, other one needs the permission "
            "tags.add_tag; create them first or ask for that permission (create_missing: "
            "false refuses unknown names instead).",
            "attr": "tags_to_add",
        }
    ]
    assert list(Tag.objects.values_list("name", flat=True)) == ["known"]
    assert not TagAssignment.objects.exists()


def test_a_tag_created_while_tagging_records_the_callers_reason(tagger):
    customer = CustomerFactory()
    tag(tagger, customer, tags_to_add=["Brand New"], reason="spring campaign")
    record = Tag.objects.get(name="Brand New").history.get()
    assert (record.history_type, record.history_user, record.history_change_reason) == (
        "+",
        tagger.user,
        "spring campaign",
    )


def test_without_a_reason_the_created_tag_says_it_was_created_while_tagging(tagger):
    customer = CustomerFactory()
    tag(tagger, customer, tags_to_add=["Brand New"])
    record = Tag.objects.get(name="Brand New").history.get()
    assert (record.history_user, record.history_change_reason) == (
        tagger.user,
        "created while tagging",
    )


def test_names_in_both_lists_are_all_named(tagger):
    customer = CustomerFactory()
    response = tag(
        tagger, customer, tags_to_add=["VIP", "new", "Gold"], tags_to_remove=["gold", "vip"]
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "in_both_lists",
            "detail": "Tag(s) in both tags_to_add and tags_to_remove: VIP, Gold.",
            "attr": "tags_to_remove",
        }
    ]
    assert not Tag.objects.exists()


def test_one_tag_in_both_lists_under_its_alias_is_named_too(tagger):
    customer = CustomerFactory()
    for target, alias in (("VIP", "vip_customer"), ("Gold", "gold_old")):
        TagFactory(
            name=alias,
            is_deleted=True,
            deleted_at=timezone.now(),
            merged_into=TagFactory(name=target),
        )
    response = tag(
        tagger,
        customer,
        tags_to_add=["vip_customer", "gold_old"],
        tags_to_remove=["Gold", "plain", "VIP"],
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "in_both_lists",
            "detail": "Tag(s) in both tags_to_add and tags_to_remove (under another name): "
            "Gold, VIP.",
            "attr": "tags_to_remove",
        }
    ]
    assert not TagAssignment.objects.exists()


def test_every_inactive_tag_to_add_is_named_by_its_stored_name(tagger):
    customer = CustomerFactory()
    TagFactory(name="sleepy", is_active=False)
    TagFactory(name="Dozy", is_active=False)
    TagFactory(name="awake")
    response = tag(tagger, customer, tags_to_add=["awake", "SLEEPY", "dozy"])
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "tag_inactive",
            "detail": "Inactive tag(s) cannot be assigned: sleepy, Dozy.",
            "attr": "tags_to_add",
        }
    ]
    assert not TagAssignment.objects.exists()
