"""What a call may write and show follows the caller's permissions, not only the endpoint's.

Creating a tag needs ``tags.add_tag`` even when it happens as part of tagging; segment names
need ``segments.view_segment`` wherever they appear.
"""

import pytest
from django.test import Client

from segments.services import segment_save
from tags.models import Tag, TagAssignment
from tests.conftest import make_client
from tests.factories import CustomerFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db

TAGGER_WITHOUT_ADD = ("customers.view_customer", "customers.tag_customer", "tags.view_tag")


def error_of(response) -> tuple[int, str, str | None]:
    error = response.json()["errors"][0]
    return response.status_code, error["code"], error["attr"]


# --- creating tags while tagging ------------------------------------------------------------


def test_tagging_with_a_new_name_needs_add_tag_and_writes_nothing():
    client = make_client(*TAGGER_WITHOUT_ADD)
    customer = CustomerFactory()
    TagFactory(name="vip")
    response = client.post(
        f"/api/v1/customers/{customer.id}/tag",
        {"tags_to_add": ["vip", "brand new"]},
        format="json",
    )
    assert error_of(response) == (403, "permission_denied", "tags_to_add")
    assert "tags.add_tag" in response.json()["errors"][0]["detail"]
    assert "brand new" in response.json()["errors"][0]["detail"]
    assert list(Tag.objects.values_list("name", flat=True)) == ["vip"]
    assert not TagAssignment.objects.exists()


def test_tagging_with_existing_tags_needs_no_add_tag():
    client = make_client(*TAGGER_WITHOUT_ADD)
    customer = CustomerFactory()
    TagFactory(name="VIP")
    response = client.post(
        f"/api/v1/customers/{customer.id}/tag", {"tags_to_add": ["vip"]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["tags_added"] == ["VIP"]


def test_bulk_tag_with_a_new_name_needs_add_tag_and_writes_nothing():
    client = make_client(*TAGGER_WITHOUT_ADD)
    customers = CustomerFactory.create_batch(2)
    TagFactory(name="vip")
    response = client.post(
        "/api/v1/customers/bulk_tag",
        {"customer_ids": [c.id for c in customers], "tags_to_add": ["vip", "fresh"]},
        format="json",
    )
    assert error_of(response) == (403, "permission_denied", "tags_to_add")
    assert "tags.add_tag" in response.json()["errors"][0]["detail"]
    assert not Tag.objects.filter(name="fresh").exists()
    assert not TagAssignment.objects.exists()


def test_admin_add_tags_creating_a_tag_needs_add_tag_and_writes_nothing():
    user = UserFactory(
        username="clerk", is_staff=True, perms=["customers.view_customer", "customers.tag_customer"]
    )
    client = Client()
    client.force_login(user)
    customer = CustomerFactory()
    page = client.post(
        "/admin/customers/customer/",
        {
            "action": "add_tags",
            "_selected_action": [customer.pk],
            "apply": "1",
            "tags": "brand new",
            "reason": "r",
            "create_missing": "on",
        },
    )
    assert page.status_code == 200
    assert b"tags.add_tag" in page.content
    assert b"Nothing was changed." in page.content
    assert not Tag.objects.exists()
    assert not TagAssignment.objects.exists()


# --- segment names --------------------------------------------------------------------------


@pytest.fixture
def in_a_segment():
    """A customer with the tag 'vip', and a segment 'Secret VIPs' of everyone tagged vip."""
    customer = CustomerFactory()
    tag = TagFactory(name="vip")
    TagAssignment.objects.create(customer=customer, tag=tag, source="api")
    segment_save(segment=None, data={"name": "Secret VIPs", "rule": {"all": ["vip"]}}, actor=None)
    return customer


def test_the_tag_response_shows_segments_only_to_who_may_view_them(in_a_segment):
    url = f"/api/v1/customers/{in_a_segment.id}/tag"
    body = {"tags_to_remove": ["nothing"]}
    without = make_client(*TAGGER_WITHOUT_ADD).post(url, body, format="json")
    assert without.status_code == 200
    assert "segments" not in without.json()
    assert b"Secret VIPs" not in without.content
    allowed = make_client(*TAGGER_WITHOUT_ADD, "segments.view_segment").post(
        url, body, format="json"
    )
    assert [s["name"] for s in allowed.json()["segments"]] == ["Secret VIPs"]


@pytest.mark.parametrize("route", ["detail", "list", "tag"])
def test_including_customer_segments_needs_segment_view_permission(in_a_segment, route):
    client = make_client(*TAGGER_WITHOUT_ADD)
    query = "?includes=customer.segments"
    if route == "detail":
        response = client.get(f"/api/v1/customers/{in_a_segment.id}{query}")
    elif route == "list":
        response = client.get(f"/api/v1/customers/{query}")
    else:  # refused before the write
        response = client.post(
            f"/api/v1/customers/{in_a_segment.id}/tag{query}",
            {"tags_to_remove": ["vip"]},
            format="json",
        )
        assert TagAssignment.objects.filter(customer=in_a_segment).count() == 1
    assert error_of(response) == (403, "permission_denied", "includes")
    assert "segments.view_segment" in response.json()["errors"][0]["detail"]
    assert b"Secret VIPs" not in response.content


def test_including_customer_segments_with_the_permission_shows_them(in_a_segment):
    client = make_client("customers.view_customer", "segments.view_segment")
    response = client.get(f"/api/v1/customers/{in_a_segment.id}?includes=customer.segments")
    assert response.status_code == 200
    assert [s["name"] for s in response.json()["customer"]["segments"]] == ["Secret VIPs"]


def test_segment_members_need_customer_view_permission(in_a_segment):
    from segments.models import Segment

    segment = Segment.objects.get()
    only_segments = make_client("segments.view_segment")
    assert only_segments.get(f"/api/v1/segments/{segment.id}").status_code == 200
    members = only_segments.get(f"/api/v1/segments/{segment.id}/customers")
    assert members.status_code == 403
    assert in_a_segment.id.encode() not in members.content
    both = make_client("segments.view_segment", "customers.view_customer")
    listed = both.get(f"/api/v1/segments/{segment.id}/customers").json()["customers"]
    assert [c["id"] for c in listed] == [in_a_segment.id]
