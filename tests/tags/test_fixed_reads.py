"""The selectors' fixed reads written as SQL answer what the ORM answers, on either database:
the tags by name key (whole instances, every field converted alike), a customer's current
tags (the one "current" rule, in name order) and the customer a tag call names."""

from datetime import timedelta

import pytest
from django.utils import timezone

from customers.models import Customer
from customers.selectors import customer_to_change
from segments.services import segment_save
from statuses.models import Status, StatusLabel
from tags.models import Tag, TagAssignment
from tags.selectors import customer_current_tag_names, tags_by_key
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory

pytestmark = pytest.mark.django_db


def fields(tag: Tag) -> dict:
    return {f.attname: getattr(tag, f.attname) for f in Tag._meta.concrete_fields}


def test_tags_by_key_gives_the_orms_instances_field_for_field():
    into = TagFactory(name="Gold", reference_id="ref-gold", description="top")
    plain = TagFactory(name="Silver", metadata={"info": [{"k": "v"}], "list": []})
    gone = TagFactory(name="Old", is_deleted=True, deleted_at=timezone.now())
    merged = TagFactory(name="Aurum", is_deleted=True, merged_into=into, is_active=False)
    keys = [t.name_key for t in (plain, gone, merged)] + ["nothing-by-this-name"]

    found = tags_by_key(keys)

    assert set(found) == {plain.name_key, gone.name_key, merged.name_key}
    orm = {t.pk: t for t in Tag.objects.all()}
    assert fields(found[plain.name_key]) == fields(orm[plain.pk])
    assert fields(found[gone.name_key]) == fields(orm[gone.pk])
    assert fields(found[merged.name_key]) == fields(orm[into.pk])  # follows the merge
    assert found[plain.name_key].metadata == {"info": [{"k": "v"}], "list": []}
    assert found[gone.name_key].is_deleted is True
    assert found[gone.name_key]._state.adding is False  # loaded, as the ORM's are


def test_tags_by_key_of_no_keys_runs_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert tags_by_key([]) == {}


def test_current_tag_names_are_the_current_querysets_in_name_order():
    now = timezone.now()
    customer, other = CustomerFactory(), CustomerFactory()
    held = {
        "b live": None,
        "a ahead": now + timedelta(seconds=1),
        "c expired": now - timedelta(days=1),
        "d expires now": now,
    }
    for name, expires_at in held.items():
        TagAssignmentFactory(customer=customer, tag=TagFactory(name=name), expires_at=expires_at)
    TagAssignmentFactory(customer=customer, tag=TagFactory(name="e gone", is_deleted=True))
    TagAssignmentFactory(customer=other, tag=TagFactory(name="f other's"))

    names = customer_current_tag_names(customer_id=customer.pk, now=now)

    assert list(names.values()) == ["a ahead", "b live"]
    assert names == dict(
        TagAssignment.objects.current(now)
        .filter(customer_id=customer.pk)
        .order_by("tag__name")
        .values_list("tag_id", "tag__name")
    )
    assert customer_current_tag_names(customer_id=CustomerFactory().pk, now=now) == {}


@pytest.mark.parametrize("identifier", ["id", "reference_id", "email", "mobile"])
def test_the_customer_to_change_by_any_identifier_has_its_id_and_label(identifier):
    label = StatusLabel.objects.create(name="Dormant", status=Status.objects.get(name="Inactive"))
    customer = CustomerFactory(status_label=label)
    CustomerFactory()  # another one, not to be found

    found = customer_to_change({identifier: getattr(customer, identifier)})

    assert (found.pk, found.status_label_id) == (customer.pk, label.pk)
    assert found.get_deferred_fields() == {f.attname for f in Customer._meta.concrete_fields} - {
        "id",
        "status_label_id",
    }
    assert customer_to_change({identifier: "0" * 26 if identifier == "id" else "nobody"}) is None


def test_the_tag_call_by_email_answers_that_customer_and_its_labels_segments(tagger):
    label = StatusLabel.objects.create(name="Dormant", status=Status.objects.get(name="Inactive"))
    customer = CustomerFactory(email="ann@example.com", status_label=label)
    TagFactory(name="vip")
    segment_save(
        segment=None,
        data={"name": "Dormant VIPs", "rule": {"all": ["vip"], "status_labels": ["Dormant"]}},
        actor=None,
    )

    response = tagger.post(
        "/api/v1/customers/ann@example.com/tag?identify_by=email",
        {"tags_to_add": ["vip"]},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["id"] == customer.pk
    assert [s["name"] for s in response.json()["segments"]] == ["Dormant VIPs"]
    assert (
        tagger.post(
            "/api/v1/customers/bob@example.com/tag?identify_by=email",
            {"tags_to_add": ["vip"]},
            format="json",
        ).status_code
        == 404
    )
