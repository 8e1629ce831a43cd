"""GET /api/v1/events and /api/v1/events/{id}: the feed's envelope, order, filters, pages.

The tests commit their events (transactional tests), as a reader on PostgreSQL is only served
events whose transaction has ended (tests/events/test_gaps.py)."""

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from config.context import Actor
from config.events.models import Event
from config.events.services import EventDraft, event_record
from config.fields import new_ulid
from tests.conftest import make_client
from tests.events.conftest import commit_events, wait_until_served

pytestmark = pytest.mark.django_db(transaction=True)
EVENTS = "/api/v1/events/"


@pytest.fixture
def reader():
    return make_client("events.view_event")


def ids(response) -> list[str]:
    return [event["id"] for event in response.json()["events"]]


def test_the_feed_lists_events_in_order_in_its_envelope(reader):
    # given a customer's tags changed by a token's owner, then a tag created by the system
    customer, tag = new_ulid(), new_ulid()
    ops = Actor(type="token", id="12", username="ops")
    with transaction.atomic():
        first = event_record(
            type="customer.tags_changed",
            customer_id=customer,
            subject_id=customer,
            data={"added": [{"name": "vip", "tag_id": tag}], "removed": [], "reason": "q3"},
            actor=ops,
        )
    with transaction.atomic():
        second = event_record(type="tag.created", subject_id=tag, data={"name": "vip"})
    wait_until_served()
    # when the feed is read
    response = reader.get(EVENTS)
    # then both come, oldest first, in the documented shape
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"events", "next", "previous"}
    assert (body["next"], body["previous"]) == (None, None)
    assert ids(response) == [first.id, second.id]
    assert body["events"][0] == {
        "id": first.id,
        "type": "customer.tags_changed",
        "occurred_at": body["events"][0]["occurred_at"],
        "actor": {"type": "token", "id": "12", "username": "ops"},
        "request_id": None,
        "change_set_id": None,
        "customer_id": customer,
        "subject_id": customer,
        "data": {"added": [{"name": "vip", "tag_id": tag}], "removed": [], "reason": "q3"},
    }
    assert body["events"][1]["actor"] == {"type": "system", "id": None, "username": "system"}
    assert body["events"][0]["occurred_at"].endswith("Z")


def test_one_event_by_id(reader):
    (event,) = commit_events(EventDraft(type="tag.deleted", subject_id=new_ulid()))
    response = reader.get(f"/api/v1/events/{event.id.upper()}")
    assert response.status_code == 200
    assert response.json()["event"]["id"] == event.id
    assert response.json()["event"]["type"] == "tag.deleted"
    assert reader.get(f"/api/v1/events/{new_ulid()}").status_code == 404
    assert reader.get("/api/v1/events/not-an-id").status_code == 404


def test_unix_ms_datetimes(reader):
    (event,) = commit_events(EventDraft(type="tag.created"))
    response = reader.get(EVENTS, HTTP_X_DATETIME_FORMAT="unix_ms")
    assert response.json()["events"][0]["occurred_at"] == int(event.occurred_at.timestamp() * 1000)


def test_pages_follow_next_and_previous_without_skipping_or_repeating(reader):
    # given 7 events from 3 transactions
    commit_events(*[EventDraft(type="tag.created") for _ in range(3)])
    commit_events(EventDraft(type="tag.updated"))
    everything = commit_events(*[EventDraft(type="tag.deleted") for _ in range(3)])
    expected = [event.id for event in everything]
    # when read 3 at a time along `next`
    seen, url, pages = [], f"{EVENTS}?limit=3", []
    while url:
        response = reader.get(url)
        assert response.status_code == 200, response.content
        pages.append(response.json())
        seen += ids(response)
        url = response.json()["next"]
    # then every event comes once, in order
    assert seen == expected
    assert [len(page["events"]) for page in pages] == [3, 3, 1]
    assert pages[0]["previous"] is None
    # and `previous` from the last page leads back over the same events
    back = reader.get(pages[-1]["previous"])
    assert ids(back) == expected[3:6]
    assert ids(reader.get(back.json()["previous"])) == expected[:3]
    assert ids(reader.get(back.json()["next"])) == expected[6:]


def test_after_an_event_gives_only_what_came_later(reader):
    events = commit_events(*[EventDraft(type="tag.created") for _ in range(4)])
    response = reader.get(EVENTS, {"after": events[1].id})
    assert ids(response) == [e.id for e in events[2:]]
    assert ids(reader.get(EVENTS, {"after": events[-1].id})) == []
    # a later event appears for the same `after` (what a poller does)
    (later,) = commit_events(EventDraft(type="tag.updated"))[-1:]
    assert ids(reader.get(EVENTS, {"after": events[-1].id})) == [later.id]


def test_after_an_unknown_or_malformed_id_is_a_400(reader):
    unknown = reader.get(EVENTS, {"after": new_ulid()})
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0] | {"detail": ""} == {
        "code": "does_not_exist",
        "attr": "after",
        "detail": "",
    }
    malformed = reader.get(EVENTS, {"after": "xyz"})
    assert malformed.status_code == 400
    assert malformed.json()["errors"][0]["attr"] == "after"
    assert malformed.json()["errors"][0]["code"] == "invalid"


def test_types_filter_exact_wildcard_and_several(reader):
    customer = new_ulid()
    commit_events(
        EventDraft(type="customer.created", customer_id=customer),
        EventDraft(type="customer.tags_changed", customer_id=customer),
        EventDraft(type="tag.created"),
        EventDraft(type="segment.deleted"),
    )

    def types(**params) -> list[str]:
        response = reader.get(EVENTS, params)
        assert response.status_code == 200, response.content
        return [event["type"] for event in response.json()["events"]]

    assert types(types="tag.created") == ["tag.created"]
    assert types(types="customer.*") == ["customer.created", "customer.tags_changed"]
    assert types(types="customer.created,segment.*") == ["customer.created", "segment.deleted"]
    assert reader.get(f"{EVENTS}?types=tag.created&types=segment.deleted").json()["events"]
    assert [
        e["type"] for e in reader.get(f"{EVENTS}?types=tag.*&types=segment.*").json()["events"]
    ] == [
        "tag.created",
        "segment.deleted",
    ]


@pytest.mark.parametrize("value", ["customer.tagged", "customers.*", "*", "tag"])
def test_an_unknown_type_is_a_400_naming_it(reader, value):
    response = reader.get(EVENTS, {"types": f"tag.created,{value}"})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert (error["attr"], error["code"]) == ("types", "invalid")
    assert value in error["detail"]


def test_customer_change_set_and_time_filters(reader):
    ada, bob, change_set = new_ulid(), new_ulid(), new_ulid()
    commit_events(EventDraft(type="customer.created", customer_id=ada))
    commit_events(
        EventDraft(type="customer.tags_changed", customer_id=ada),
        EventDraft(type="customer.tags_changed", customer_id=bob),
        change_set_id=change_set,
    )
    later = datetime.now(UTC) + timedelta(hours=1)
    commit_events(EventDraft(type="customer.deleted", customer_id=bob), occurred_at=later)

    def listed(**params) -> list[tuple[str, str]]:
        response = reader.get(EVENTS, params)
        assert response.status_code == 200, response.content
        return [(e["type"], e["customer_id"]) for e in response.json()["events"]]

    assert listed(customer=ada.upper()) == [
        ("customer.created", ada),
        ("customer.tags_changed", ada),
    ]
    assert listed(change_set=change_set) == [
        ("customer.tags_changed", ada),
        ("customer.tags_changed", bob),
    ]
    assert listed(occurred_after=(later - timedelta(minutes=1)).isoformat()) == [
        ("customer.deleted", bob)
    ]
    assert listed(customer=bob, types="customer.deleted") == [("customer.deleted", bob)]


@pytest.mark.parametrize(
    ("params", "attr"),
    [
        ({"customer": "nope"}, "customer"),
        ({"customer": ""}, "customer"),
        ({"change_set": "01hqjp31wcww3jhnagehc16r0"}, "change_set"),
        ({"occurred_after": "yesterday"}, "occurred_after"),
        ({"limit": "0"}, "limit"),
        ({"cursor": "bm9wZQ=="}, "cursor"),
        ({"customer_id": new_ulid()}, "customer_id"),
        ({"ordering": "-id"}, "ordering"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(reader, params, attr):
    response = reader.get(EVENTS, params)
    assert response.status_code == 400, response.content
    assert [error["attr"] for error in response.json()["errors"]] == [attr]


def test_a_cursor_with_a_forged_position_is_refused(reader):
    from rest_framework.pagination import Cursor

    from config.events.api.pagination import EventCursorPagination

    paginator = EventCursorPagination()
    paginator.base_url = "http://testserver/api/v1/events/"
    for position in ["1.x", "99999999999999999999.01hqjp31wcww3jhnagehc16r04", "1", "a.b"]:
        url = paginator.encode_cursor(Cursor(offset=0, reverse=False, position=position))
        response = reader.get(url)
        assert response.status_code == 400, position
        assert response.json()["errors"][0]["code"] == "invalid_cursor"


def test_reading_the_feed_needs_view_event():
    commit_events(EventDraft(type="tag.created"))
    client = make_client("customers.view_customer", "tags.view_tag")
    assert client.get(EVENTS).status_code == 403
    assert make_client("events.view_event").get(EVENTS).status_code == 200


@pytest.mark.parametrize("count", [3, 30])
def test_a_page_costs_the_same_queries_whatever_its_size(reader, count):
    commit_events(*[EventDraft(type="tag.created", customer_id=new_ulid()) for _ in range(count)])
    reader.get(EVENTS)  # the token's last_used_at is written once, on its first use
    with CaptureQueriesContext(connection) as queries:
        response = reader.get(EVENTS, {"limit": 50})
    assert len(response.json()["events"]) == count
    # token and user, permissions, the page
    assert len(queries) <= 4, [q["sql"] for q in queries]


def test_next_link_keeps_the_filters(reader):
    customer = new_ulid()
    commit_events(*[EventDraft(type="customer.updated", customer_id=customer) for _ in range(3)])
    commit_events(EventDraft(type="tag.created"))
    first = reader.get(EVENTS, {"customer": customer, "limit": 2})
    query = parse_qs(urlparse(first.json()["next"]).query)
    assert query["customer"] == [customer]
    second = reader.get(first.json()["next"])
    assert [e["customer_id"] for e in second.json()["events"]] == [customer]
    assert second.json()["next"] is None
    assert Event.objects.count() == 4
