"""A tag name or reference_id taken by another writer between our check and our write.

On PostgreSQL, tests/reliability races real threads for this. Here the other writer is played
in one connection, deterministically: right after the service has read that the name is free,
before the savepoint of its write, a rival row is inserted (and commits with the surrounding
transaction, as a concurrent commit would); the write then hits the unique index.
"""

from contextlib import contextmanager

import pytest
from django.db import IntegrityError, connection

from config.names import name_key as tag_name_key
from tags.models import Tag, TagAssignment
from tests.factories import CustomerFactory, TagFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/customer_tags/"


class Rival:
    """An execute wrapper: once a SELECT on the tags table by name key has run, the next
    SAVEPOINT is preceded by the rival's INSERT. Records whether a write on the tags table was
    then refused by the database; with ``gone_before_recheck`` the rival is deleted again right
    after that write's savepoint is rolled back."""

    def __init__(self, rival: Tag, *, gone_before_recheck: bool = False):
        self.rival = rival
        self.gone_before_recheck = gone_before_recheck
        self.checked = self.inserted = self.refused = self.deleted = False

    def __call__(self, execute, sql, params, many, context):
        if self.checked and not self.inserted and sql.startswith("SAVEPOINT"):
            self.inserted = True
            Tag.objects.bulk_create([self.rival])
        try:
            result = execute(sql, params, many, context)
        except IntegrityError:
            if self.inserted and '"tags_tag"' in sql:
                self.refused = True
            raise
        if (
            self.refused
            and self.gone_before_recheck
            and not self.deleted
            and sql.startswith("ROLLBACK TO SAVEPOINT")
        ):
            self.deleted = True
            Tag.objects.filter(pk=self.rival.pk).delete()
        if not self.checked and sql.startswith("SELECT"):
            _, _, where = sql.partition(" WHERE ")
            self.checked = '"tags_tag"."name_key"' in where
        return result


@contextmanager
def rival_between_check_and_write(name: str, **fields):
    rival = Rival(Tag(name=name, name_key=tag_name_key(name), **fields))
    with connection.execute_wrapper(rival):
        yield rival
    assert rival.refused, "the write never met the rival: the race was not played"


def test_a_name_taken_meanwhile_is_the_same_409_as_a_plain_duplicate(tag_api):
    with rival_between_check_and_write("vip") as race:
        response = tag_api.post(URL, {"name": "VIP"}, format="json")
    assert response.status_code == 409
    assert response.json()["errors"] == [
        {
            "code": "duplicate_name",
            "detail": f"A tag named 'vip' already exists (id {race.rival.pk}).",
            "attr": "name",
        }
    ]
    assert list(Tag.objects.values_list("name", flat=True)) == ["vip"]


def test_a_reference_id_taken_meanwhile_names_the_reference_id(tag_api):
    tag = TagFactory(name="VIP", reference_id="old-ref")
    with rival_between_check_and_write("Gold", reference_id="new-ref"):
        response = tag_api.patch(f"{URL}{tag.id}", {"reference_id": "new-ref"}, format="json")
    assert response.status_code == 409
    assert response.json()["errors"] == [
        {
            "code": "duplicate",
            "detail": "A tag with this reference_id already exists.",
            "attr": "reference_id",
        }
    ]
    tag.refresh_from_db()
    assert tag.reference_id == "old-ref"
    assert tag.history.count() == 1


def test_a_clash_gone_again_before_the_recheck_is_still_a_409(tag_api):
    race = Rival(Tag(name="vip", name_key="vip"), gone_before_recheck=True)
    with connection.execute_wrapper(race):
        response = tag_api.post(URL, {"name": "VIP"}, format="json")
    assert (race.refused, race.deleted) == (True, True)
    assert response.status_code == 409
    assert response.json()["errors"] == [
        {
            "code": "duplicate_name",
            "detail": "A tag with this name or reference_id already exists.",
            "attr": None,
        }
    ]
    assert not Tag.objects.exists()


# --- tags created while tagging a customer ---------------------------------------------------


def test_a_tag_created_meanwhile_by_another_caller_is_the_one_given(tagger):
    customer = CustomerFactory()
    with rival_between_check_and_write("BRAND new") as race:
        response = tagger.post(
            f"/api/v1/customers/{customer.id}/tag", {"tags_to_add": ["Brand New"]}, format="json"
        )
    assert response.status_code == 200, response.json()
    assert response.json()["tags_added"] == ["BRAND new"]
    assert response.json()["current_tags"] == ["BRAND new"]
    assert list(Tag.objects.values_list("pk", flat=True)) == [race.rival.pk]
    assert list(TagAssignment.objects.values_list("customer_id", "tag_id")) == [
        (customer.id, race.rival.pk)
    ]


def test_a_tag_created_meanwhile_as_inactive_is_refused_and_nothing_is_given(tagger):
    customer = CustomerFactory()
    with rival_between_check_and_write("brand new", is_active=False):
        response = tagger.post(
            f"/api/v1/customers/{customer.id}/tag",
            {"tags_to_add": ["Brand New", "other"]},
            format="json",
        )
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert (error["code"], error["attr"]) == ("tag_inactive", "tags_to_add")
    assert not TagAssignment.objects.exists()
