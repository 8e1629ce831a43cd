"""The selectors' fixed reads written as SQL answer what the ORM answers, on either database:
the tags by name key (whole instances, every field converted alike) and a customer's current
tags (the one "current" rule, in name order)."""

from datetime import timedelta

import pytest
from django.utils import timezone

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
