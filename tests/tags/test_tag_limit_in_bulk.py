"""The 250-tag limit in bulk_tag: tags that expire later count, and every customer over it is named."""

from datetime import timedelta

import pytest
from django.utils import timezone

from customers.models import Customer
from tags.models import Tag, TagAssignment
from tests.factories import CustomerFactory, TagFactory

pytestmark = pytest.mark.django_db
LIMIT = 250


def at_the_limit(*, expiring: bool) -> Customer:
    """A customer holding exactly 250 current tags, all expiring tomorrow if ``expiring``."""
    customer = CustomerFactory()
    prefix = customer.id[-6:]
    tags = Tag.objects.bulk_create(
        [Tag(name=f"{prefix}t{i}", name_key=f"{prefix.lower()}t{i}") for i in range(LIMIT)]
    )
    expires_at = timezone.now() + timedelta(days=1) if expiring else None
    TagAssignment.objects.bulk_create(
        [TagAssignment(customer=customer, tag=t, expires_at=expires_at) for t in tags]
    )
    return customer


def test_tags_that_expire_later_count_towards_the_limit(tagger):
    full = at_the_limit(expiring=True)
    TagFactory(name="extra")
    before = TagAssignment.objects.count()
    response = tagger.post(
        "/api/v1/customers/bulk_tag",
        {"customer_ids": [full.id], "tags_to_add": ["extra"]},
        format="json",
    )
    assert response.status_code == 400, response.json()
    assert response.json()["errors"][0]["code"] == "too_many_tags"
    assert TagAssignment.objects.count() == before


def test_every_customer_over_the_limit_is_named(tagger):
    first, second = at_the_limit(expiring=False), at_the_limit(expiring=False)
    fine = CustomerFactory()
    TagFactory(name="extra")
    response = tagger.post(
        "/api/v1/customers/bulk_tag",
        {"customer_ids": [fine.id, first.id, second.id], "tags_to_add": ["extra"]},
        format="json",
    )
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    head = f"A customer can hold at most {LIMIT} tags; this change would exceed it for "
    assert error["detail"].startswith(head)
    assert error["detail"].endswith(".")
    named = error["detail"][len(head) : -1].split(", ")
    assert sorted(named) == sorted([first.id, second.id])
    assert not TagAssignment.objects.filter(tag__name="extra").exists()
