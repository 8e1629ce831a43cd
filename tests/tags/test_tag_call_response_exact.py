"""POST /customers/{id}/tag: the response's warnings, time and the one-customer tag limit,
exactly."""

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tags.models import Tag, TagAssignment
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory

pytestmark = pytest.mark.django_db


def tag(client, customer, **body):
    return client.post(f"/api/v1/customers/{customer.id}/tag", body, format="json")


def test_every_kind_of_no_op_is_a_warning_in_order(tagger):
    customer = CustomerFactory()
    TagAssignmentFactory(customer=customer, tag=TagFactory(name="vip"))
    TagFactory(name="prospect")
    response = tag(
        tagger,
        customer,
        tags_to_add=["VIP", "new"],
        tags_to_remove=["nope", "prospect"],
    )
    assert response.status_code == 200
    body = response.json()
    assert body["warnings"] == [
        "'nope' is not a tag",
        "'vip' was already on the customer",
        "'prospect' was not on the customer",
    ]
    assert (body["tags_added"], body["tags_removed"]) == (["new"], [])


def test_the_response_time_is_the_time_of_the_change_in_the_history(tagger):
    customer = CustomerFactory()
    TagAssignmentFactory(customer=customer, tag=TagFactory(name="prospect"))
    before = timezone.now()
    response = tag(tagger, customer, tags_to_add=["vip"], tags_to_remove=["prospect"])
    after = timezone.now()
    at = datetime.fromisoformat(response.json()["updated_at"].replace("Z", "+00:00"))
    assert before <= at <= after
    history = TagAssignment.history.filter(customer_id=customer.id, history_user=tagger.user)
    assert sorted(history.values_list("history_type", flat=True)) == ["+", "-"]
    times = set(history.values_list("history_date", flat=True))
    if connection.vendor == "postgresql":
        # each row carries the clock at its own write (history order = commit order, see
        # docs/decisions.md), taken after the change's time the response gives
        assert all(at <= when <= after for when in times)
    else:
        # one time for both rows, the one the response gives (to the millisecond)
        (when,) = times
        assert when.replace(microsecond=when.microsecond // 1000 * 1000) == at


def test_the_251st_tag_is_refused_naming_the_limit_and_the_customer(tagger):
    customer = CustomerFactory()
    tags = Tag.objects.bulk_create([Tag(name=f"t{i}", name_key=f"t{i}") for i in range(250)])
    TagAssignment.objects.bulk_create([TagAssignment(customer=customer, tag=t) for t in tags])
    response = tag(tagger, customer, tags_to_add=["one more", "and another"])
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "too_many_tags",
            "detail": "A customer can hold at most 250 tags; this change would exceed it "
            f"for {customer.id}.",
            "attr": "tags_to_add",
        }
    ]
    assert TagAssignment.objects.filter(customer=customer).count() == 250
    assert not Tag.objects.filter(name="one more").exists()


def test_a_tag_expiring_later_is_current_and_can_be_removed(tagger):
    customer = CustomerFactory()
    TagAssignmentFactory(
        customer=customer,
        tag=TagFactory(name="trial"),
        expires_at=timezone.now() + timedelta(days=1),
    )
    response = tag(tagger, customer, tags_to_remove=["trial"])
    assert response.status_code == 200
    assert (response.json()["tags_removed"], response.json()["warnings"]) == (["trial"], [])
    assert not TagAssignment.objects.filter(customer=customer).exists()
