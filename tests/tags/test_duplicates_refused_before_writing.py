"""A name or reference_id already taken is refused before any write: the exact 409, and no
INSERT or UPDATE of the tags table that the database would have to turn down (on PostgreSQL,
each such attempt is an error in the server's log). The database's own refusal, for a writer
that loses a race, is in test_lost_races.py."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tags.models import Tag
from tests.factories import TagFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/customer_tags/"


def tag_writes(captured) -> list[str]:
    return [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith(('INSERT INTO "tags_tag"', 'UPDATE "tags_tag"'))
    ]


def refused(response, code: str, detail: str, attr: str) -> None:
    assert response.status_code == 409, response.json()
    assert response.json()["errors"] == [{"code": code, "detail": detail, "attr": attr}]


@pytest.fixture
def taken():
    """'Gold' with reference gold-1, 'Old' deleted, 'vip_customer' merged into 'VIP'."""
    gold = TagFactory(name="Gold", reference_id="gold-1")
    old = TagFactory(name="Old", is_deleted=True, deleted_at=timezone.now())
    vip = TagFactory(name="VIP")
    TagFactory(name="vip_customer", is_deleted=True, deleted_at=timezone.now(), merged_into=vip)
    return gold, old, vip


def test_creating_a_taken_name_writes_nothing(tag_api, taken):
    gold, _, _ = taken
    with CaptureQueriesContext(connection) as captured:
        response = tag_api.post(URL, {"name": " GOLD "}, format="json")
    refused(
        response, "duplicate_name", f"A tag named 'Gold' already exists (id {gold.id}).", "name"
    )
    assert tag_writes(captured) == []


def test_creating_a_deleted_tags_name_points_at_restore_and_writes_nothing(tag_api, taken):
    _, old, _ = taken
    with CaptureQueriesContext(connection) as captured:
        response = tag_api.post(URL, {"name": "old"}, format="json")
    refused(
        response,
        "customer_tag_deleted",
        f"A deleted tag named 'Old' exists (id {old.id}); restore it instead of creating "
        "a new one.",
        "name",
    )
    assert tag_writes(captured) == []


def test_creating_an_alias_name_names_the_tag_it_went_into_and_writes_nothing(tag_api, taken):
    _, _, vip = taken
    with CaptureQueriesContext(connection) as captured:
        response = tag_api.post(URL, {"name": "VIP_Customer"}, format="json")
    refused(
        response,
        "duplicate_name",
        f"'vip_customer' is an alias of tag {vip.id} (merged into it).",
        "name",
    )
    assert tag_writes(captured) == []


def test_creating_with_a_taken_reference_id_writes_nothing(tag_api, taken):
    with CaptureQueriesContext(connection) as captured:
        response = tag_api.post(URL, {"name": "Silver", "reference_id": "gold-1"}, format="json")
    refused(response, "duplicate", "A tag with this reference_id already exists.", "reference_id")
    assert tag_writes(captured) == []
    assert not Tag.objects.filter(name="Silver").exists()


def test_renaming_onto_a_taken_name_writes_nothing(tag_api, taken):
    gold, _, _ = taken
    silver = TagFactory(name="Silver")
    with CaptureQueriesContext(connection) as captured:
        response = tag_api.patch(f"{URL}{silver.id}", {"name": "gold"}, format="json")
    refused(
        response, "duplicate_name", f"A tag named 'Gold' already exists (id {gold.id}).", "name"
    )
    assert tag_writes(captured) == []


@pytest.mark.parametrize(
    "body", [{"reference_id": "gold-1"}, {"name": "Platinum", "reference_id": "gold-1"}]
)
def test_taking_another_tags_reference_id_writes_nothing(tag_api, taken, body):
    silver = TagFactory(name="Silver", reference_id="silver-1")
    with CaptureQueriesContext(connection) as captured:
        response = tag_api.patch(f"{URL}{silver.id}", body, format="json")
    refused(response, "duplicate", "A tag with this reference_id already exists.", "reference_id")
    assert tag_writes(captured) == []
    silver.refresh_from_db()
    assert (silver.name, silver.reference_id) == ("Silver", "silver-1")


def test_keeping_its_own_name_and_reference_id_is_no_clash(tag_api, taken):
    gold, _, _ = taken
    response = tag_api.patch(
        f"{URL}{gold.id}",
        {"name": "GOLD", "reference_id": "gold-1", "description": "shiny"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    gold.refresh_from_db()
    assert (gold.name, gold.reference_id, gold.description) == ("GOLD", "gold-1", "shiny")
