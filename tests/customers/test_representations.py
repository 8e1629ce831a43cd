"""The customer list's read path (rows → dicts) and ``CustomerSerializer`` answer the same JSON,
for random customers, tags, assignments, segments, includes and datetime formats."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIRequestFactory

from config.api.fields import UNIX_MS_HEADER
from customers.api.representations import customer_representations
from customers.api.serializers import CustomerSerializer
from customers.api.tagging_serializers import CustomerTagResponseSerializer
from customers.models import Customer
from segments.models import Segment
from segments.selectors import active_segments_invalidate
from statuses.models import StatusLabel
from tags.models import Tag, TagAssignment
from tags.selectors import customer_list_queryset, customer_rows
from tests.conftest import make_client
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

INCLUDES = ("customer.metadata", "customer.tag_details", "customer.segments")
# Text a database can store (no NUL, no lone surrogate), of any script.
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=20,
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=8,
)
WHEN = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
ASSIGNMENT = st.fixed_dictionaries(
    {
        "category": TEXT.map(lambda t: t[:50]),
        "source": TEXT.map(lambda t: t[:50]),
        "expires": st.sampled_from([None, "past", "future"]),
        "by_user": st.booleans(),
        "created_at": WHEN,
    }
)
CUSTOMER = st.fixed_dictionaries(
    {
        "name": TEXT,
        "email": st.none() | st.from_regex(r"\A[a-z0-9.]{1,10}@example\.com\Z"),
        "mobile": st.none() | st.from_regex(r"\A[0-9]{7,13}\Z"),
        "with_reference": st.booleans(),
        "metadata": st.dictionaries(TEXT, JSON, max_size=4),
        "label": st.integers(0, 2),
        "created_at": WHEN,
        "updated_at": WHEN,
        "tags": st.dictionaries(st.integers(0, 5), ASSIGNMENT, max_size=6),
    }
)
WORLD = st.fixed_dictionaries(
    {
        "tag_names": st.lists(TEXT.filter(str.strip), min_size=6, max_size=6),
        "deleted": st.sets(st.integers(0, 5), max_size=2),
        "customers": st.lists(CUSTOMER, max_size=6),
        "segment_rules": st.lists(
            st.tuples(
                st.sets(st.integers(0, 5), max_size=2), st.sets(st.integers(0, 5), max_size=2)
            ),
            max_size=3,
        ),
        "includes": st.sets(st.sampled_from(INCLUDES)),
        "unix_ms": st.booleans(),
    }
)


def build(world: dict) -> None:
    """The world's rows, written straight through the ORM (no service rules in the way)."""
    now = timezone.now()
    user = UserFactory()
    labels = list(StatusLabel.objects.order_by("name"))
    tags = Tag.objects.bulk_create(
        [
            Tag(name=name[:100], name_key=f"k{i}", is_deleted=i in world["deleted"])
            for i, name in enumerate(world["tag_names"])
        ]
    )
    for i, (all_of, any_of) in enumerate(world["segment_rules"]):
        segment = Segment.objects.create(name=f"s{i}", name_key=f"s{i}")
        segment.tags_all.set([tags[k] for k in all_of])
        segment.tags_any.set([tags[k] for k in any_of])
    for i, spec in enumerate(world["customers"]):
        customer = Customer.objects.create(
            name=spec["name"],
            email=spec["email"] and f"{i}{spec['email']}",
            mobile=spec["mobile"] and f"{spec['mobile']}{i}",
            reference_id=f"ref-{i}" if spec["with_reference"] else None,
            metadata=spec["metadata"],
            status_label=labels[spec["label"] % len(labels)],
        )
        Customer.objects.filter(pk=customer.pk).update(
            created_at=spec["created_at"], updated_at=spec["updated_at"]
        )
        for k, assignment in spec["tags"].items():
            expires = {
                None: None,
                "past": now - timedelta(days=1),
                "future": now + timedelta(days=1),
            }
            TagAssignment.objects.create(
                customer=customer,
                tag=tags[k],
                category=assignment["category"],
                source=assignment["source"],
                expires_at=expires[assignment["expires"]],
                assigned_by=user if assignment["by_user"] else None,
            )
            TagAssignment.objects.filter(customer=customer, tag=tags[k]).update(
                created_at=assignment["created_at"]
            )
    active_segments_invalidate()


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(world=WORLD)
def test_rows_and_serializer_render_the_same_json(world):
    with transaction.atomic():
        # given
        build(world)
        headers = {f"HTTP_{UNIX_MS_HEADER.upper().replace('-', '_')}": "unix_ms"}
        request = APIRequestFactory().get("/", **(headers if world["unix_ms"] else {}))
        includes = world["includes"]
        # when
        serialized = CustomerSerializer(
            customer_list_queryset().order_by("id"),
            many=True,
            context={"request": request, "includes": includes},
        ).data
        built = customer_representations(
            customer_rows(
                Customer.objects.order_by("id"), metadata="customer.metadata" in includes
            ),
            includes=includes,
            request=request,
        )
        # then
        assert len(built) == len(world["customers"])
        assert JSONRenderer().render(built) == JSONRenderer().render(serialized)
        transaction.set_rollback(True)


@pytest.mark.parametrize("unix_ms", [False, True])
@pytest.mark.parametrize("sees_segments", [False, True])
def test_the_tag_call_answers_what_its_response_serializer_renders(unix_ms, sees_segments):
    # given a caller with or without the segments permission, and a segment the customer enters
    perms = ["customers.tag_customer", "tags.add_tag"]
    client = make_client(*perms, *(["segments.view_segment"] if sees_segments else []))
    tag = Tag.objects.create(name="vip", name_key="vip")
    Segment.objects.create(name="VIPs", name_key="vips").tags_all.add(tag)
    active_segments_invalidate()
    customer = Customer.objects.create(name="Ada")
    headers = {"HTTP_X_DATETIME_FORMAT": "unix_ms"} if unix_ms else {}
    # when
    response = client.post(
        f"/api/v1/customers/{customer.id}/tag",
        {"tags_to_add": ["vip", "new"]},
        format="json",
        **headers,
    )
    # then
    answer = json.loads(response.content)
    request = APIRequestFactory().get("/", **headers)
    request.user = client.user
    body = dict(answer)
    body["updated_at"] = TagAssignment.objects.filter(customer=customer).first().created_at
    rendered = CustomerTagResponseSerializer(body, context={"request": request}).data
    assert response.content == JSONRenderer().render(rendered)
    assert ("segments" in answer) is sees_segments
    assert answer.get("segments", [{}])[0].get("name", "VIPs") == "VIPs"
