"""Events written out by hand from rows (what webhook bodies carry) and ``EventSerializer`` (what
the change feed answers) give the same JSON, for random events."""

from datetime import UTC, datetime

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.renderers import JSONRenderer

from config.events.api.representations import event_representation, events_rendered
from config.events.api.serializers import EventSerializer
from config.events.models import ACTOR_TYPE_CHOICES, EVENT_TYPES, Event
from config.fields import new_ulid
from config.webhooks.services import body_json

pytestmark = pytest.mark.django_db

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
ULID = st.builds(new_ulid)
EVENT = st.fixed_dictionaries(
    {
        "type": st.sampled_from(EVENT_TYPES),
        "occurred_at": st.datetimes(
            min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
        ),
        "actor_type": st.sampled_from(ACTOR_TYPE_CHOICES),
        "actor_id": st.sampled_from(["", "7", new_ulid()]),
        "actor_username": TEXT,
        "request_id": st.sampled_from(["", "req-1", "ünï"]),
        "change_set_id": st.none() | ULID,
        "customer_id": st.none() | ULID,
        "subject_id": st.none() | ULID,
        "data": st.dictionaries(TEXT, JSON, max_size=4),
    }
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(drafts=st.lists(EVENT, min_size=1, max_size=5))
def test_rows_render_as_the_feed_s_serializer_does(drafts):
    with transaction.atomic():
        events = [Event.objects.create(**draft) for draft in drafts]
        ids = [event.id for event in events]
        served = list(Event.objects.filter(pk__in=ids).order_by("id"))
        by_hand = events_rendered(ids)
        transaction.set_rollback(True)
    feed = EventSerializer(served, many=True).data
    ours = [by_hand[event.id] for event in served]
    assert JSONRenderer().render(ours) == JSONRenderer().render(feed)
    # and a webhook body made of either is the same bytes
    for mine, theirs in zip(ours, feed, strict=True):
        assert body_json({"data": mine}) == body_json({"data": theirs})


def test_a_row_s_empty_request_and_actor_ids_are_null():
    row = {
        "id": new_ulid(),
        "type": "tag.created",
        "occurred_at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "actor_type": "system",
        "actor_id": "",
        "actor_username": "",
        "request_id": "",
        "change_set_id": None,
        "customer_id": None,
        "subject_id": None,
        "data": {},
    }
    shown = event_representation(row)
    assert shown["occurred_at"] == "2026-01-02T03:04:05.678Z"
    assert (shown["request_id"], shown["actor"]["id"]) == (None, None)
