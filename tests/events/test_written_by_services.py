"""Every change writes its event, in the change's own transaction, through the API, the admin
and the commands alike: the exact type, ids, actor, request and data; none when nothing
changed; none when the change failed."""

from datetime import UTC, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from config.api.models import ApiToken
from config.events.models import Event
from customers.services import customer_delete, customer_fields
from segments.models import Segment
from statuses.models import StatusLabel
from tags.models import Tag, TagAssignment
from tags.services import bulk
from tests.admin.pages import signed_in
from tests.conftest import make_client
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db
SEGMENT_PERMS = (
    "segments.view_segment", "segments.add_segment", "segments.change_segment",
    "segments.delete_segment", "tags.view_tag",
)  # fmt: skip


def events(*types: str) -> list[Event]:
    """The events of these types (all when none given), in feed order."""
    found = Event.objects.in_feed_order()
    return list(found.filter(type__in=types) if types else found)


def shape(event: Event) -> tuple:
    return (event.type, event.customer_id, event.subject_id, event.data)


def actor(event: Event) -> tuple:
    return (event.actor_type, event.actor_id, event.actor_username)


def entry(tag: Tag, *, category="", source="api", expires_at=None) -> dict:
    """One tag of a ``customer.tags_changed`` list."""
    return {
        "name": tag.name,
        "tag_id": tag.pk,
        "category": category,
        "source": source,
        "expires_at": expires_at,
    }


def tags_changed(customer, *, added=(), removed=(), reason=None) -> tuple:
    return (
        "customer.tags_changed",
        customer.pk,
        customer.pk,
        {"added": list(added), "removed": list(removed), "reason": reason},
    )


def by_customer(found: list[Event]) -> list[tuple]:
    return sorted((shape(e) for e in found), key=lambda s: s[1])


@pytest.fixture
def tagger(tagger):
    """The tagging client, knowing its token's id (the events' actor id)."""
    tagger.token_id = str(ApiToken.objects.get(user=tagger.user).pk)
    return tagger


# --- one customer's tags ----------------------------------------------------------------------


def test_a_tag_call_writes_one_event_with_both_lists_who_and_which_request(tagger):
    # given a customer holding "prospect" and "old", and "vip" existing
    customer = CustomerFactory()
    prospect, old, vip = TagFactory(name="prospect"), TagFactory(name="old"), TagFactory(name="vip")
    TagAssignmentFactory(customer=customer, tag=prospect, category="lead", source="import")
    TagAssignmentFactory(customer=customer, tag=old)
    # when a token adds two (one new) and removes two, with metadata and a reason
    response = tagger.post(
        f"/api/v1/customers/{customer.pk}/tag",
        {
            "tags_to_add": ["VIP", "high_value"],
            "tags_to_remove": ["prospect", "old"],
            "tag_metadata": {"category": "loyalty", "source": "shop", "expiry_date": "2030-06-30"},
            "reason": "upgrade",
        },
        format="json",
        HTTP_X_REQUEST_ID="req-42",
    )
    assert response.status_code == 200
    # then one tags_changed event, lists sorted by name, with the assignments' own values
    high_value = Tag.objects.get(name="high_value")
    (changed,) = events("customer.tags_changed")
    expires = "2030-06-30T23:59:59.999Z"  # a date expires at the end of that day
    assert shape(changed) == tags_changed(
        customer,
        added=[
            entry(high_value, category="loyalty", source="shop", expires_at=expires),
            entry(vip, category="loyalty", source="shop", expires_at=expires),
        ],
        removed=[entry(old), entry(prospect, category="lead", source="import")],
        reason="upgrade",
    )
    assert actor(changed) == ("token", tagger.token_id, tagger.user.username)
    assert changed.request_id == "req-42"
    # and the tag created on the way has its own event, in the same transaction
    (created,) = events("tag.created")
    assert shape(created) == (
        "tag.created",
        None,
        high_value.pk,
        {
            "tag": {"name": "high_value", "reference_id": None, "is_active": True},
            "reason": "upgrade",
        },
    )
    assert events() == [created, changed]


def test_a_datetime_expiry_is_written_to_the_millisecond_as_iso_8601(tagger):
    customer = CustomerFactory()
    response = tagger.post(
        f"/api/v1/customers/{customer.pk}/tag",
        {"tags_to_add": ["trial"], "tag_metadata": {"expiry_date": "2030-01-02T03:04:05.678901Z"}},
        format="json",
    )
    assert response.status_code == 200
    (changed,) = events("customer.tags_changed")
    assert changed.data["added"][0]["expires_at"] == "2030-01-02T03:04:05.678Z"
    assert changed.data["reason"] is None


def test_a_tag_call_that_changes_nothing_writes_no_event(tagger):
    # given a customer holding vip, and "gone" a tag it does not hold
    customer = CustomerFactory()
    TagAssignmentFactory(customer=customer, tag=TagFactory(name="vip"))
    TagFactory(name="gone")
    # when it adds what it holds and removes what it lacks (and a name that is no tag)
    response = tagger.post(
        f"/api/v1/customers/{customer.pk}/tag",
        {"tags_to_add": ["vip"], "tags_to_remove": ["gone", "never"]},
        format="json",
    )
    # then warnings, and no event at all
    assert response.status_code == 200
    assert len(response.json()["warnings"]) == 3
    assert events() == []


def test_removing_only_writes_an_event_with_an_empty_added_list(tagger):
    customer = CustomerFactory()
    vip = TagFactory(name="vip")
    TagAssignmentFactory(customer=customer, tag=vip)
    response = tagger.delete(f"/api/v1/customers/{customer.pk}/tags?keys=vip,absent")
    assert response.status_code == 200
    assert by_customer(events()) == [tags_changed(customer, removed=[entry(vip)])]


def test_over_the_tag_limit_nothing_is_written_and_no_event(tagger, settings):
    settings.MAX_TAGS_PER_CUSTOMER = 2
    customer = CustomerFactory()
    TagAssignmentFactory(customer=customer, tag=TagFactory(name="a"))
    TagFactory(name="b"), TagFactory(name="c")
    response = tagger.post(
        f"/api/v1/customers/{customer.pk}/tag", {"tags_to_add": ["b", "c"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "too_many_tags"
    assert TagAssignment.objects.count() == 1
    assert events() == []


# --- customers ----------------------------------------------------------------------------------


def test_customer_create_update_delete_through_the_api(api):
    # create
    response = api.post(
        "/api/v1/customers/",
        {"name": "Ada", "email": "Ada@Example.com", "reference_id": "ada-1"},
        format="json",
    )
    assert response.status_code == 201
    customer_id = response.json()["customer"]["id"]
    (created,) = events()
    assert shape(created) == (
        "customer.created",
        customer_id,
        customer_id,
        {
            "customer": {
                "reference_id": "ada-1",
                "name": "Ada",
                "email": "ada@example.com",
                "mobile": None,
                "metadata": {},
            },
            "reason": None,
        },
    )
    # an update that changes nothing writes nothing
    assert (
        api.patch(f"/api/v1/customers/{customer_id}", {"name": "Ada"}, format="json").status_code
        == 200
    )
    assert len(events()) == 1
    # an update lists each changed field, old and new
    response = api.patch(
        f"/api/v1/customers/{customer_id}", {"name": "Ada L.", "mobile": "+44 20 7946 0018"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 200
    mobile = response.json()["customer"]["mobile"]
    assert shape(events("customer.updated")[0]) == (
        "customer.updated",
        customer_id,
        customer_id,
        {
            "changed": {
                "name": {"from": "Ada", "to": "Ada L."},
                "mobile": {"from": None, "to": mobile},
            },
            "reason": None,
        },
    )
    # delete keeps the last fields
    assert api.delete(f"/api/v1/customers/{customer_id}").status_code == 204
    (deleted,) = events("customer.deleted")
    assert (deleted.customer_id, deleted.subject_id) == (customer_id, customer_id)
    assert deleted.data["customer"]["name"] == "Ada L."
    assert deleted.data["reason"] is None  # none given
    assert [e.type for e in events()] == [
        "customer.created",
        "customer.updated",
        "customer.deleted",
    ]


def test_a_customer_deleted_with_a_reason_says_why(db):
    customer = CustomerFactory(name="Ada")
    customer_delete(customer=customer, actor=None, reason="duplicate of another")
    (deleted,) = events("customer.deleted")
    assert (deleted.customer_id, deleted.subject_id) == (customer.pk, customer.pk)
    assert deleted.data == {
        "customer": customer_fields(customer),
        "reason": "duplicate of another",
    }


@pytest.mark.parametrize(("adding", "removing"), [(2, 1), (1, 0), (0, 1), (1, 1)])
def test_one_event_per_customer_whatever_the_mix_of_adds_and_removes(tagger, adding, removing):
    # (one tag in all takes a shortcut in the SQL; two or more group per customer)
    customer = CustomerFactory()
    tags = [TagFactory(name=f"t{i}") for i in range(adding + removing)]
    for tag in tags[adding:]:
        TagAssignmentFactory(customer=customer, tag=tag)
    response = tagger.post(
        f"/api/v1/customers/{customer.pk}/tag",
        {
            "tags_to_add": [t.name for t in tags[:adding]],
            "tags_to_remove": [t.name for t in tags[adding:]],
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    assert [shape(e) for e in events("customer.tags_changed")] == [
        tags_changed(
            customer,
            added=[entry(t) for t in tags[:adding]],
            removed=[entry(t, source="api") for t in tags[adding:]],
        )
    ]
    # the event is dated by the call's clock, the one its history rows carry (PostgreSQL
    # dates each history row at its write, a moment later)
    (event,) = events("customer.tags_changed")
    written = TagAssignment.history.filter(customer_id=customer.pk).order_by("-history_id")
    call_rows = written[: adding + removing]  # the call's own, after the factory's
    dates = {row.history_date for row in call_rows}
    assert min(dates) >= event.occurred_at
    if connection.vendor == "sqlite":
        assert dates == {event.occurred_at}


def test_a_refused_customer_create_writes_no_event(api):
    CustomerFactory(email="taken@example.com")
    response = api.post("/api/v1/customers/", {"email": "taken@example.com"}, format="json")
    assert response.status_code == 409
    assert events() == []


def test_a_status_change_writes_from_to_reason_and_source(db):
    changer = make_client("customers.view_customer", "statuses.change_customer_status")
    customer = CustomerFactory()
    url = f"/api/v1/customers/{customer.pk}/status"
    response = changer.put(
        url, {"label": "Suspended", "reason": "fraud", "date": "2026-01-02T03:04:05Z"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 200
    (changed,) = events()
    assert shape(changed) == (
        "customer.status_changed",
        customer.pk,
        customer.pk,
        {
            "from": {"status": "Active", "label": "Active"},
            "to": {"status": "Suspended", "label": "Suspended"},
            "reason": "fraud",
            "source": "API",
            "effective_at": "2026-01-02T03:04:05Z",
        },
    )
    # the label it already has: nothing changes, no event
    assert (
        changer.put(url, {"label": "Suspended", "reason": "again"}, format="json").status_code
        == 200
    )
    # an unknown label, a missing reason: refused, no event
    assert changer.put(url, {"label": "Nope", "reason": "x"}, format="json").status_code == 400
    assert changer.put(url, {"label": "Active", "reason": " "}, format="json").status_code == 400
    assert len(events()) == 1


def test_a_transition_not_allowed_writes_no_event(db):
    changer = make_client("customers.view_customer", "statuses.change_customer_status")
    active = StatusLabel.objects.get(name="Active")
    active.allowed_next.add(StatusLabel.objects.get(name="Inactive"))
    customer = CustomerFactory()
    response = changer.put(
        f"/api/v1/customers/{customer.pk}/status", {"label": "Suspended", "reason": "r"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 409
    assert events() == []


# --- tags ---------------------------------------------------------------------------------------


def test_tag_create_update_delete_restore_through_the_api(tag_api):
    response = tag_api.post("/api/v1/customer_tags/", {"name": " VIP  gold "}, format="json")
    assert response.status_code == 201
    tag_id = response.json()["customer_tag"]["id"]
    url = f"/api/v1/customer_tags/{tag_id}"
    assert tag_api.patch(url, {"name": "VIP gold"}, format="json").status_code == 200  # no change
    assert tag_api.patch(url, {"name": "VIP", "is_active": False}, format="json").status_code == 200
    assert tag_api.delete(url).status_code in (200, 204)
    assert tag_api.post(f"{url}/restore", {}, format="json").status_code == 200
    snapshot = {"name": "VIP", "reference_id": None, "is_active": False}
    assert [shape(e) for e in events()] == [
        (
            "tag.created",
            None,
            tag_id,
            {"tag": {"name": "VIP gold", "reference_id": None, "is_active": True}, "reason": None},
        ),
        (
            "tag.updated",
            None,
            tag_id,
            {
                "changed": {
                    "name": {"from": "VIP gold", "to": "VIP"},
                    "is_active": {"from": True, "to": False},
                },
                "reason": None,
            },
        ),
        ("tag.deleted", None, tag_id, {"tag": snapshot, "permanent": False, "reason": None}),
        ("tag.restored", None, tag_id, {"tag": snapshot, "reason": None}),
    ]


def test_a_tag_created_with_a_reason_says_why(tag_api):
    response = tag_api.post(
        "/api/v1/customer_tags/", {"name": "Gold", "reason": "loyalty launch"}, format="json"
    )
    assert response.status_code == 201
    (created,) = events("tag.created")
    assert created.subject_id == response.json()["customer_tag"]["id"]
    assert created.data == {
        "tag": {"name": "Gold", "reference_id": None, "is_active": True},
        "reason": "loyalty launch",
    }


def test_updating_a_deleted_tag_is_refused_without_an_event(tag_api):
    tag = TagFactory(name="old", is_deleted=True, deleted_at=timezone.now())
    response = tag_api.patch(f"/api/v1/customer_tags/{tag.pk}", {"name": "new"}, format="json")
    assert response.status_code == 409
    assert events() == []


def test_deleting_a_live_tag_for_good_in_the_admin_tells_each_customer_holding_it(db):
    boss = signed_in(username="boss", is_staff=True, is_superuser=True)
    tag = TagFactory(name="legacy")
    holders = CustomerFactory.create_batch(2)
    for customer in holders:
        TagAssignmentFactory(customer=customer, tag=tag)
    # one holder's assignment expires tomorrow: it still holds the tag today
    later = CustomerFactory()
    tomorrow = timezone.now() + timedelta(days=1)
    TagAssignmentFactory(customer=later, tag=tag, expires_at=tomorrow)
    expired = CustomerFactory()
    TagAssignmentFactory(customer=expired, tag=tag, expires_at=timezone.now() - timedelta(days=1))
    response = boss.post(f"/admin/tags/tag/{tag.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Tag.objects.filter(pk=tag.pk).exists()
    (deleted,) = events("tag.deleted")
    reason = deleted.data["reason"]
    assert deleted.data == {
        "tag": {"name": "legacy", "reference_id": None, "is_active": True},
        "permanent": True,
        "reason": reason,
    }
    assert (deleted.subject_id, deleted.actor_username) == (tag.pk, "boss")
    # the expired holder saw no change: no event for it
    stamp = tomorrow.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert by_customer(events("customer.tags_changed")) == sorted(
        [
            *(tags_changed(c, removed=[entry(tag)], reason=reason) for c in holders),
            tags_changed(later, removed=[entry(tag, expires_at=stamp)], reason=reason),
        ],
        key=lambda s: s[1],
    )
    # one deletion, one moment: the tag's event and its customers' carry the same time
    assert {e.occurred_at for e in events()} == {deleted.occurred_at}


# --- segments -----------------------------------------------------------------------------------


def test_segment_create_update_delete_through_the_api(db):
    client = make_client(*SEGMENT_PERMS)
    TagFactory(name="vip"), TagFactory(name="churn")
    response = client.post(
        "/api/v1/segments/", {"name": "Gold", "rule": {"all": ["VIP"]}}, format="json"
    )
    assert response.status_code == 201
    segment_id = response.json()["segment"]["id"]
    rule = {"all": ["vip"], "any": [], "none": [], "status_labels": []}
    url = f"/api/v1/segments/{segment_id}"
    assert (
        client.patch(url, {"rule": {"all": ["vip"]}}, format="json").status_code == 200
    )  # no change
    changed = {"description": "top", "rule": {"all": ["vip"], "none": ["churn"]}}
    assert client.patch(url, changed, format="json").status_code == 200
    assert client.delete(url).status_code == 204
    assert [shape(e) for e in events()] == [
        (
            "segment.created",
            None,
            segment_id,
            {
                "segment": {"name": "Gold", "description": "", "is_active": True, "rule": rule},
                "reason": None,
            },
        ),
        (
            "segment.updated",
            None,
            segment_id,
            {
                "changed": {
                    "description": {"from": "", "to": "top"},
                    "rule": {"from": rule, "to": {**rule, "none": ["churn"]}},
                },
                "reason": None,
            },
        ),
        (
            "segment.deleted",
            None,
            segment_id,
            {
                "segment": {"name": "Gold", "description": "top", "is_active": True},
                "reason": None,
            },
        ),
    ]
    assert not Segment.objects.exists()


# --- bulk paths ---------------------------------------------------------------------------------


def retag(*args: str) -> None:
    call_command("retag", *args, stdout=StringIO(), stderr=StringIO())


def test_retag_writes_one_event_per_changed_customer_across_batches(db):
    # given 5 customers: two hold "prospect", one already holds "vip"
    customers = sorted(CustomerFactory.create_batch(5), key=lambda c: c.pk)
    vip, prospect = TagFactory(name="vip"), TagFactory(name="prospect")
    TagAssignmentFactory(customer=customers[0], tag=prospect)
    TagAssignmentFactory(customer=customers[3], tag=prospect)
    TagAssignmentFactory(customer=customers[3], tag=vip)
    TagAssignmentFactory(customer=customers[4], tag=vip)
    # when the command adds vip and removes prospect, two customers a batch
    retag("--all", "--add", "vip", "--remove", "prospect", "--reason", "Q3", "--batch-size", "2",
          "--category", "campaign")  # fmt: skip
    # then one event per changed customer, none for customers[4] (held vip, no prospect)
    added = entry(vip, category="campaign", source="bulk")
    assert by_customer(events("customer.tags_changed")) == [
        tags_changed(customers[0], added=[added], removed=[entry(prospect)], reason="Q3"),
        tags_changed(customers[1], added=[added], reason="Q3"),
        tags_changed(customers[2], added=[added], reason="Q3"),
        tags_changed(customers[3], removed=[entry(prospect)], reason="Q3"),
    ]
    assert {actor(e) for e in events()} == {("system", "", "system")}
    # and each carries the run's change-set, closed by one change_set.completed event
    (completed,) = events("change_set.completed")
    assert {e.change_set_id for e in events()} == {completed.subject_id}
    assert completed.data["counts"] == {
        "customers": 5, "added": 3, "removed": 2, "conflicts": 0, "skipped_limit": 0,
    }  # fmt: skip
    # and running it again changes nothing: no customer event, only the new run's record
    retag("--all", "--add", "vip", "--remove", "prospect", "--reason", "Q3", "--batch-size", "2")
    assert len(events("customer.tags_changed")) == 4
    assert len(events("change_set.completed")) == 2


def test_retag_as_a_user_names_that_user(db):
    ops = UserFactory(username="ops")
    customer = CustomerFactory()
    retag("--all", "--add", "vip", "--user", "ops")
    (changed,) = events("customer.tags_changed")
    assert actor(changed) == ("user", str(ops.pk), "ops")
    assert changed.customer_id == customer.pk
    assert [e.type for e in events()] == [
        "tag.created",
        "customer.tags_changed",
        "change_set.completed",
    ]


def test_bulk_tag_writes_one_event_per_changed_customer(db):
    client = make_client("customers.view_customer", "customers.tag_customer", "tags.view_tag")
    customers = CustomerFactory.create_batch(3)
    vip = TagFactory(name="vip")
    TagAssignmentFactory(customer=customers[0], tag=vip)
    response = client.post(
        "/api/v1/customers/bulk_tag",
        {"customer_ids": [c.pk for c in customers], "tags_to_add": ["vip"], "reason": "promo"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["tags_added"] == 2
    (completed,) = events("change_set.completed")
    assert completed.subject_id == completed.change_set_id == response.json()["change_set_id"]
    assert by_customer(events("customer.tags_changed")) == sorted(
        (tags_changed(c, added=[entry(vip, source="bulk")], reason="promo") for c in customers[1:]),
        key=lambda s: s[1],
    )


def test_an_error_mid_bulk_rolls_back_every_change_and_every_event(db, monkeypatch):
    # given bulk_tag over two batches, the second failing after its writes
    client = make_client("customers.view_customer", "customers.tag_customer", "tags.view_tag")
    customers = CustomerFactory.create_batch(4)
    TagFactory(name="vip")
    calls = []
    real = bulk.assignments_apply

    def apply_then_fail(**kwargs):
        counts = real(**kwargs)
        calls.append(kwargs["customer_ids"])
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return counts

    monkeypatch.setattr(bulk, "assignments_apply", apply_then_fail)
    monkeypatch.setattr(
        "customers.api.tagging_views.customers_retag",
        lambda **kw: bulk.customers_retag(**{**kw, "batches": [kw["batches"][0][:2],
                                                               kw["batches"][0][2:]]}),
    )  # fmt: skip
    client.raise_request_exception = False
    response = client.post(
        "/api/v1/customers/bulk_tag",
        {"customer_ids": [c.pk for c in customers], "tags_to_add": ["vip"]},
        format="json",
    )
    # then a 500, and neither the first batch's assignments nor its events remain
    assert response.status_code == 500
    assert len(calls) == 2
    assert TagAssignment.objects.count() == 0
    assert events() == []


def test_retag_failing_in_its_second_batch_keeps_the_first_batch_whole_and_nothing_more(
    db, monkeypatch
):
    # given 4 customers retagged two a batch, the second batch failing after its writes
    customers = sorted(CustomerFactory.create_batch(4), key=lambda c: c.pk)
    vip = TagFactory(name="vip")
    calls = []
    real = bulk.assignments_apply

    def apply_then_fail(**kwargs):
        counts = real(**kwargs)
        calls.append(kwargs["customer_ids"])
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return counts

    monkeypatch.setattr(bulk, "assignments_apply", apply_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        retag("--all", "--add", "vip", "--batch-size", "2")
    # then the first batch (its own transaction) has its changes and exactly their events
    holders = set(TagAssignment.objects.values_list("customer_id", flat=True))
    assert holders == {c.pk for c in customers[:2]}
    assert by_customer(events("customer.tags_changed")) == [
        tags_changed(c, added=[entry(vip, source="bulk")], reason="retag") for c in customers[:2]
    ]
    # and its change-set is failed, counting the batch that committed, with one event
    (failed,) = events("change_set.failed")
    assert failed.data["counts"]["customers"] == failed.data["counts"]["added"] == 2
    assert failed.data["error"] == "RuntimeError"
    assert [e.type for e in events()][-1] == "change_set.failed"


def test_the_admin_add_tags_action_writes_events_as_the_signed_in_user(db):
    boss = signed_in(username="boss", is_staff=True, is_superuser=True)
    customers = CustomerFactory.create_batch(2)
    response = boss.post(
        "/admin/customers/customer/",
        {"action": "add_tags", "_selected_action": [c.pk for c in customers], "apply": "1",
         "tags": "fresh", "reason": "spring", "create_missing": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    fresh = Tag.objects.get(name="fresh")
    assert by_customer(events("customer.tags_changed")) == sorted(
        (tags_changed(c, added=[entry(fresh, source="admin")], reason="spring") for c in customers),
        key=lambda s: s[1],
    )
    assert {e.actor_username for e in events()} == {"boss"}
    assert [e.type for e in events("tag.created")] == ["tag.created"]


def test_merge_writes_one_event_per_customer_whatever_it_held(db):
    # given: a holds both sources, b one source and the target, c the other source
    a, b, c, d = sorted(CustomerFactory.create_batch(4), key=lambda x: x.pk)
    vip = TagFactory(name="VIP")
    s1, s2 = TagFactory(name="VIP_customer"), TagFactory(name="vip-customers")
    TagAssignmentFactory(customer=a, tag=s1, category="x")
    TagAssignmentFactory(customer=a, tag=s2)
    TagAssignmentFactory(customer=b, tag=s2)
    TagAssignmentFactory(customer=b, tag=vip)
    TagAssignmentFactory(customer=c, tag=s2, category="y")
    TagAssignmentFactory(customer=d, tag=vip)
    call_command("merge_tags", "VIP_customer", "vip-customers", "--into", "VIP",
                 stdout=StringIO(), stderr=StringIO())  # fmt: skip
    (merged,) = events("tag.merged")
    why = "merged 'VIP_customer', 'vip-customers' into 'VIP'"
    assert shape(merged) == (
        "tag.merged",
        None,
        vip.pk,
        {
            "sources": [
                {"tag_id": s1.pk, "name": "VIP_customer"},
                {"tag_id": s2.pk, "name": "vip-customers"},
            ],
            "into": {"tag_id": vip.pk, "name": "VIP"},
            "reason": why,
        },
    )
    # a: both sources off, VIP on with the first source's values; b: its source off only;
    # d held only VIP: unchanged, no event
    assert by_customer(events("customer.tags_changed")) == [
        tags_changed(a, added=[entry(vip, category="x")], removed=[entry(s1, category="x"),
                     entry(s2)], reason=why),
        tags_changed(b, removed=[entry(s2)], reason=why),
        tags_changed(c, added=[entry(vip, category="y")], removed=[entry(s2, category="y")],
                     reason=why),
    ]  # fmt: skip
    # running it again changes nothing: no more events
    call_command("merge_tags", "VIP_customer", "vip-customers", "--into", "VIP",
                 stdout=StringIO(), stderr=StringIO())  # fmt: skip
    assert len(events("tag.merged")) == 1


def test_expiry_writes_one_event_per_customer_even_across_batches(db):
    # given a with two expired tags, b with three and one that does not expire
    past = timezone.now() - timedelta(hours=1)
    a, b = sorted(CustomerFactory.create_batch(2), key=lambda x: x.pk)
    tags = sorted(TagFactory.create_batch(4), key=lambda t: t.name)
    for tag in tags[:2]:
        TagAssignmentFactory(customer=a, tag=tag, expires_at=past)
    for tag in tags[:3]:
        TagAssignmentFactory(customer=b, tag=tag, expires_at=past)
    TagAssignmentFactory(customer=b, tag=tags[3])
    # when expiry runs in batches of 3 (a, a, b would split b over two batches)
    call_command("expire_tags", "--batch-size", "3", stdout=StringIO())
    # then one event per customer, every expired tag in it
    stamp = past.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert by_customer(events()) == [
        tags_changed(a, removed=[entry(t, expires_at=stamp) for t in tags[:2]], reason="expired"),
        tags_changed(b, removed=[entry(t, expires_at=stamp) for t in tags[:3]], reason="expired"),
    ]
    assert TagAssignment.objects.count() == 1
