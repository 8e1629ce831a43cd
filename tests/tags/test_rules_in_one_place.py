"""Each tag rule is decided in one place: a valid tag name, the 250-tag limit, the name key.

Every path that meets a rule (the API's serializers, the services, the admin's model form,
segment rules; one customer and many) must give the same answer, so these tests ask them all.
"""

import pytest
from django.core.exceptions import ValidationError

from config.exceptions import InvalidInput
from config.names import name_key
from segments.models import Segment
from segments.services import segment_save
from statuses.models import Status, StatusLabel
from tags.models import Tag, TagAssignment, tag_name_is_valid
from tags.services import TagChange, customer_tags_change, customers_retag
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory

pytestmark = pytest.mark.django_db

NAMES = [
    ("vip", True),
    ("High value-2_x", True),
    ("  padded  ", True),
    ("a" * 100, True),
    ("a" * 101, False),
    ("   ", False),
    ("", False),
    ("bad!", False),
    ("tab\there", False),
    ("naïve", False),
]


@pytest.mark.parametrize(("name", "valid"), NAMES)
def test_a_tag_name_gets_one_answer_from_every_path(tag_api, tagger, name, valid):
    # the rule itself
    assert tag_name_is_valid(name) is valid
    # the model (the admin's form runs the field's validators)
    try:
        Tag(name=name).clean_fields()
        model_ok = True
    except ValidationError:
        model_ok = False
    assert model_ok is valid
    # creating a tag over the API
    created = tag_api.post("/api/v1/customer_tags/", {"name": name}, format="json")
    assert created.status_code == (201 if valid else 400), created.json()
    # tagging a customer over the API, then the service itself
    customer = CustomerFactory()
    tagged = tagger.post(
        f"/api/v1/customers/{customer.id}/tag", {"tags_to_add": [name]}, format="json"
    )
    assert tagged.status_code == (200 if valid else 400), tagged.json()
    if not valid:
        assert tagged.json()["errors"][0]["attr"] == "tags_to_add.0"
        with pytest.raises(InvalidInput) as refused:
            customer_tags_change(customer=customer, change=TagChange(add=[name]), actor=None)
        assert (refused.value.code, refused.value.attr) == ("invalid", "tags_to_add")
        assert "is not a valid tag name (1–100 characters" in str(refused.value)


def test_a_segment_rule_naming_an_impossible_tag_name_says_why():
    with pytest.raises(InvalidInput) as refused:
        segment_save(segment=None, data={"name": "S", "rule": {"all": ["bad!"]}}, actor=None)
    assert (refused.value.code, refused.value.attr) == ("unknown_tags", "rule.all")
    assert "not a valid tag name" in str(refused.value)
    with pytest.raises(InvalidInput) as unknown:
        segment_save(segment=None, data={"name": "S", "rule": {"all": ["nobody"]}}, actor=None)
    assert (unknown.value.code, str(unknown.value)) == ("unknown_tags", "Unknown tag 'nobody'.")
    assert not Segment.objects.exists()


def test_tags_segments_statuses_and_labels_share_one_name_key():
    given = " Gold \t  Members "
    tag = TagFactory(name=given)
    segment = segment_save(
        segment=None, data={"name": given, "rule": {"all": [tag.name]}}, actor=None
    )
    status = Status.objects.create(name=given)
    label = StatusLabel.objects.create(name=given.upper(), status=status)
    assert name_key(given) == "gold members"
    assert [o.name for o in (tag, segment, status, label)] == ["Gold Members"] * 3 + [
        "GOLD MEMBERS"
    ]
    assert {o.name_key for o in (tag, segment, status, label)} == {"gold members"}


@pytest.fixture
def full(settings):
    """A customer holding exactly the (lowered) limit of 3 tags, and a fourth tag."""
    settings.MAX_TAGS_PER_CUSTOMER = 3
    customer = CustomerFactory()
    for name in ("a", "b", "c"):
        TagAssignmentFactory(customer=customer, tag=TagFactory(name=name))
    TagFactory(name="d")
    return customer


def test_one_customer_and_many_are_refused_with_the_same_error(tagger, full):
    message = f"A customer can hold at most 3 tags; this change would exceed it for {full.id}."
    expected = {"code": "too_many_tags", "detail": message, "attr": "tags_to_add"}
    one = tagger.post(f"/api/v1/customers/{full.id}/tag", {"tags_to_add": ["d"]}, format="json")
    many = tagger.post(
        "/api/v1/customers/bulk_tag",
        {"customer_ids": [full.id], "tags_to_add": ["d"]},
        format="json",
    )
    assert (one.status_code, many.status_code) == (400, 400)
    assert one.json()["errors"] == [expected]
    assert many.json()["errors"] == [expected]
    assert TagAssignment.objects.filter(customer=full).count() == 3


def test_a_customer_over_a_lowered_limit_can_still_lose_tags_one_way_or_the_other(full, settings):
    # given a limit lowered below what the customer holds
    settings.MAX_TAGS_PER_CUSTOMER = 1
    # when one tag goes through each path, then nothing refuses it: the limit guards adds
    single = customer_tags_change(customer=full, change=TagChange(remove=["a"]), actor=None)
    assert single.removed == ["a"]
    bulk = customers_retag(batches=[[full.pk]], change=TagChange(remove=["b"]), actor=None)
    assert dict(bulk.removed) == {"b": 1}
    assert list(
        TagAssignment.objects.filter(customer=full).values_list("tag__name", flat=True)
    ) == ["c"]
    # and adding one more is still refused by both
    for attempt in (
        lambda: customer_tags_change(customer=full, change=TagChange(add=["d"]), actor=None),
        lambda: customers_retag(batches=[[full.pk]], change=TagChange(add=["d"]), actor=None),
    ):
        with pytest.raises(InvalidInput, match="at most 1 tags"):
            attempt()
    assert TagAssignment.objects.filter(customer=full).count() == 1
