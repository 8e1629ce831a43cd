"""Tagging customers: POST /customers/{id}/tag, DELETE/GET /customers/{id}/tags, bulk_tag."""

import io
import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from config.events.models import Event
from customers.models import Customer
from segments.selectors import active_segments
from tags.models import ChangeSet, Tag, TagAssignment
from tags.services import TagChange, customer_tags_change
from tests.conftest import make_client
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory

pytestmark = pytest.mark.django_db

STATESET_REQUEST = {
    "customer_id": "cust_123abc",
    "tags_to_add": ["vip", "high_value", "early_adopter"],
    "tags_to_remove": ["prospect"],
    "tag_metadata": {"category": "loyalty", "source": "manual", "expiry_date": "2024-12-31"},
}


def tag_names(customer) -> list[str]:
    return sorted(
        TagAssignment.objects.current()
        .filter(customer=customer)
        .values_list("tag__name", flat=True)
    )


def give(customer, *names):
    for name in names:
        tag = Tag.objects.filter(name=name).first() or TagFactory(name=name)
        TagAssignmentFactory(customer=customer, tag=tag)


def test_the_stateset_example_verbatim(tagger):
    # given a customer with repeat_buyer and email_subscriber, reached by its reference id
    customer = CustomerFactory(reference_id="cust_123abc")
    give(customer, "repeat_buyer", "email_subscriber", "prospect")
    body = {
        **STATESET_REQUEST,
        "tag_metadata": {**STATESET_REQUEST["tag_metadata"], "expiry_date": "2099-12-31"},
    }
    # when
    response = tagger.post(
        "/api/v1/customers/cust_123abc/tag?identify_by=reference_id", body, format="json"
    )
    # then
    assert response.status_code == 200, response.json()
    got = response.json()
    assert got["id"] == customer.id
    assert got["current_tags"] == [
        "early_adopter",
        "email_subscriber",
        "high_value",
        "repeat_buyer",
        "vip",
    ]
    assert got["tag_count"] == 5
    assert got["tags_added"] == ["early_adopter", "high_value", "vip"]
    assert got["tags_removed"] == ["prospect"]
    assert got["warnings"] == []
    assert got["segments"] == []
    assert got["success"] is True
    assert got["updated_by"] == tagger.user.username
    # and the new assignments carry the metadata, the expiry at the end of that day UTC
    vip = TagAssignment.objects.get(customer=customer, tag__name="vip")
    assert (vip.category, vip.source) == ("loyalty", "manual")
    assert vip.expires_at == datetime(2099, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert vip.assigned_by == tagger.user


def test_the_stateset_example_with_its_past_expiry_adds_nothing_current(tagger):
    customer = CustomerFactory()
    response = tagger.post(
        f"/api/v1/customers/{customer.id}/tag",
        {**STATESET_REQUEST, "customer_id": customer.id},
        format="json",
    )
    assert response.status_code == 200
    # expired at the end of 2024: added (a real change) but not current
    assert response.json()["tags_added"] == ["early_adopter", "high_value", "vip"]
    assert response.json()["current_tags"] == []
    assert tag_names(customer) == []


def test_names_match_case_insensitively_and_the_stored_name_is_returned(tagger):
    customer = CustomerFactory()
    TagFactory(name="VIP")
    response = tagger.post(
        f"/api/v1/customers/{customer.id}/tag", {"tags_to_add": ["vip"]}, format="json"
    )
    assert response.json()["tags_added"] == ["VIP"]
    again = tagger.post(
        f"/api/v1/customers/{customer.id}/tag", {"tags_to_add": [" Vip "]}, format="json"
    )
    assert again.json()["tags_added"] == []
    assert again.json()["warnings"] == ["'VIP' was already on the customer"]
    assert Tag.objects.count() == 1


def test_removing_a_tag_that_is_not_there_is_a_warning(tagger):
    customer = CustomerFactory()
    TagFactory(name="prospect")
    response = tagger.post(
        f"/api/v1/customers/{customer.id}/tag",
        {"tags_to_remove": ["prospect", "nope"]},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["warnings"] == [
        "'nope' is not a tag",
        "'prospect' was not on the customer",
    ]


def test_a_name_in_both_lists_is_a_400_and_nothing_changes(tagger):
    customer = CustomerFactory()
    give(customer, "vip")
    response = tagger.post(
        f"/api/v1/customers/{customer.id}/tag",
        {"tags_to_add": ["VIP", "new"], "tags_to_remove": ["vip"]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "in_both_lists"
    assert tag_names(customer) == ["vip"]
    assert not Tag.objects.filter(name="new").exists()


def test_unknown_names_without_create_missing_are_a_400_naming_them(tagger):
    customer = CustomerFactory()
    TagFactory(name="known")
    response = tagger.post(
        f"/api/v1/customers/{customer.id}/tag",
        {"tags_to_add": ["known", "ghost", "phantom"], "create_missing": False},
        format="json",
    )
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert (error["code"], error["attr"]) == ("unknown_tags", "tags_to_add")
    assert "ghost, phantom" in error["detail"]
    assert tag_names(customer) == []
    assert Tag.objects.count() == 1


def test_unknown_names_are_created_with_history_by_default(tagger):
    customer = CustomerFactory()
    response = tagger.post(
        f"/api/v1/customers/{customer.id}/tag", {"tags_to_add": ["Brand New"]}, format="json"
    )
    # the tag is created, given, and reported as added
    assert response.status_code == 200
    assert response.json()["tags_added"] == ["Brand New"]
    assert tag_names(customer) == ["Brand New"]
    tag = Tag.objects.get(name="Brand New")
    record = tag.history.get()
    assert (record.history_type, record.history_user) == ("+", tagger.user)


def test_a_deleted_tag_is_a_409_and_nothing_changes(tagger):
    customer = CustomerFactory()
    give(customer, "old")
    Tag.objects.filter(name="old").update(is_deleted=True, deleted_at=timezone.now())
    for body in ({"tags_to_add": ["old", "fresh"]}, {"tags_to_remove": ["old"]}):
        response = tagger.post(f"/api/v1/customers/{customer.id}/tag", body, format="json")
        assert response.status_code == 409
        assert response.json()["errors"][0]["code"] == "customer_tag_deleted"
    assert TagAssignment.objects.filter(customer=customer).count() == 1  # kept, hidden
    assert not Tag.objects.filter(name="fresh").exists()


def test_an_inactive_tag_cannot_be_assigned_but_stays_where_it_is(tagger):
    customer, other = CustomerFactory(), CustomerFactory()
    give(other, "sleepy")
    Tag.objects.filter(name="sleepy").update(is_active=False)
    response = tagger.post(
        f"/api/v1/customers/{customer.id}/tag", {"tags_to_add": ["sleepy"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "tag_inactive"
    assert tag_names(other) == ["sleepy"]
    assert tag_names(customer) == []


def test_the_251st_tag_is_a_400_and_nothing_changes(tagger, settings):
    customer = CustomerFactory()
    tags = Tag.objects.bulk_create([Tag(name=f"t{i}", name_key=f"t{i}") for i in range(251)])
    TagAssignment.objects.bulk_create([TagAssignment(customer=customer, tag=t) for t in tags[:249]])
    ok = tagger.post(
        f"/api/v1/customers/{customer.id}/tag", {"tags_to_add": ["t249"]}, format="json"
    )
    assert ok.status_code == 200
    assert ok.json()["tag_count"] == 250
    refused = tagger.post(
        f"/api/v1/customers/{customer.id}/tag",
        {"tags_to_add": ["t250"], "tags_to_remove": ["t0"]},
        format="json",
    )
    assert refused.status_code == 200  # one out, one in: still 250
    over = tagger.post(
        f"/api/v1/customers/{customer.id}/tag", {"tags_to_add": ["t0"]}, format="json"
    )
    assert over.status_code == 400
    assert over.json()["errors"][0]["code"] == "too_many_tags"
    assert len(tag_names(customer)) == 250
    assert "t0" not in tag_names(customer)


def test_more_than_100_names_in_a_list_is_a_400(tagger):
    customer = CustomerFactory()
    response = tagger.post(
        f"/api/v1/customers/{customer.id}/tag",
        {"tags_to_add": [f"t{i}" for i in range(101)]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "tags_to_add"
    assert Tag.objects.count() == 0


def test_customer_id_in_the_body_must_match(tagger):
    customer = CustomerFactory()
    response = tagger.post(
        f"/api/v1/customers/{customer.id}/tag",
        {"customer_id": "someone-else", "tags_to_add": ["x"]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "customer_id"


def test_expiry_in_the_past_and_the_future(tagger):
    customer = CustomerFactory()
    soon = (timezone.now() + timedelta(hours=1)).isoformat()
    tagger.post(
        f"/api/v1/customers/{customer.id}/tag",
        {"tags_to_add": ["later"], "tag_metadata": {"expiry_date": soon}},
        format="json",
    )
    tagger.post(
        f"/api/v1/customers/{customer.id}/tag",
        {"tags_to_add": ["gone"], "tag_metadata": {"expiry_date": "2020-01-01"}},
        format="json",
    )
    assert tag_names(customer) == ["later"]
    listed = tagger.get(f"/api/v1/customers/{customer.id}").json()["customer"]["tags"]
    assert listed == ["later"]
    # re-adding an expired tag refreshes it and counts as added
    again = tagger.post(
        f"/api/v1/customers/{customer.id}/tag", {"tags_to_add": ["gone"]}, format="json"
    )
    assert again.json()["tags_added"] == ["gone"]
    assert tag_names(customer) == ["gone", "later"]


def test_bad_expiry_is_a_400(tagger):
    customer = CustomerFactory()
    response = tagger.post(
        f"/api/v1/customers/{customer.id}/tag",
        {"tags_to_add": ["x"], "tag_metadata": {"expiry_date": "next week"}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "tag_metadata.expiry_date"


def test_expire_tags_command_deletes_expired_rows_with_history(capsys):
    customer = CustomerFactory()
    expired = TagAssignmentFactory(
        customer=customer, expires_at=timezone.now() - timedelta(seconds=1)
    )
    kept = TagAssignmentFactory(customer=customer, expires_at=timezone.now() + timedelta(days=1))
    call_command("expire_tags")
    assert list(TagAssignment.objects.values_list("pk", flat=True)) == [kept.pk]
    record = TagAssignment.history.filter(id=expired.pk, history_type="-").get()
    assert record.history_change_reason == "expired"
    assert "Removed 1" in capsys.readouterr().out


def test_history_records_adds_and_removes_with_user_reason_and_source(tagger):
    customer = CustomerFactory()
    give(customer, "prospect")
    tagger.post(
        f"/api/v1/customers/{customer.id}/tag",
        {
            "tags_to_add": ["vip"],
            "tags_to_remove": ["prospect"],
            "reason": "upgraded",
            "tag_metadata": {"source": "crm"},
        },
        format="json",
    )
    records = TagAssignment.history.filter(customer_id=customer.id, history_user=tagger.user)
    assert sorted((r.history_type, r.tag.name, r.history_change_reason) for r in records) == [
        ("+", "vip", "upgraded"),
        ("-", "prospect", "upgraded"),
    ]
    assert records.get(history_type="+").source == "crm"


# --- DELETE /customers/{id}/tags?keys= (Masivo) and GET --------------------------------------


def test_masivo_delete_with_two_keys(tagger):
    customer = CustomerFactory()
    give(customer, "vip", "prospect", "loyal")
    response = tagger.delete(f"/api/v1/customers/{customer.id}/tags?keys=VIP,prospect,unknown")
    assert response.status_code == 200
    body = response.json()
    assert body["customer"]["id"] == customer.id
    assert body["customer"]["tags"] == ["loyal"]
    assert body["warnings"] == ["'unknown' is not a tag"]
    assert tag_names(customer) == ["loyal"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("keys=bad!", "invalid"),
        ("keys=vip,bad!", "invalid"),
        ("keys=" + "a" * 101, "max_length"),
        ("keys=" + ",".join(f"t{i}" for i in range(101)), "max_length"),
        ("keys=", "required"),
        ("keys=vip&reason=" + "r" * 256, "max_length"),
    ],
)
def test_untag_errors_name_the_query_parameter(tagger, query, code):
    customer = CustomerFactory()
    give(customer, "vip")
    response = tagger.delete(f"/api/v1/customers/{customer.id}/tags?{query}")
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == code
    assert error["attr"] == ("reason" if "reason=" in query else "keys")
    assert tag_names(customer) == ["vip"]


def test_delete_without_keys_is_a_400(tagger):
    customer = CustomerFactory()
    response = tagger.delete(f"/api/v1/customers/{customer.id}/tags")
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "keys"


def test_get_tags_lists_current_assignments_with_metadata(tagger):
    customer = CustomerFactory()
    tagger.post(
        f"/api/v1/customers/{customer.id}/tag",
        {"tags_to_add": ["vip"], "tag_metadata": {"category": "loyalty"}},
        format="json",
    )
    give(customer, "old")
    TagAssignment.objects.filter(tag__name="old").update(
        expires_at=timezone.now() - timedelta(days=1)
    )
    tags = tagger.get(f"/api/v1/customers/{customer.id}/tags").json()["tags"]
    assert [(t["name"], t["category"], t["source"], t["assigned_by"]) for t in tags] == [
        ("vip", "loyalty", "api", tagger.user.username)
    ]


def test_tagging_needs_the_tag_customer_permission():
    customer = CustomerFactory()
    reader = make_client("customers.view_customer")
    assert (
        reader.post(
            f"/api/v1/customers/{customer.id}/tag", {"tags_to_add": ["x"]}, format="json"
        ).status_code
        == 403
    )
    assert reader.delete(f"/api/v1/customers/{customer.id}/tags?keys=x").status_code == 403
    assert reader.get(f"/api/v1/customers/{customer.id}/tags").status_code == 200
    assert Tag.objects.count() == 0


# --- customer objects and filters -----------------------------------------------------------


def test_customer_filters_tags_all_any_none(tagger):
    both, only_vip, neither = CustomerFactory(), CustomerFactory(), CustomerFactory()
    give(both, "vip", "loyal")
    give(only_vip, "vip")

    def ids(query):
        return sorted(
            c["id"] for c in tagger.get(f"/api/v1/customers/?{query}").json()["customers"]
        )

    assert ids("tags=VIP,loyal") == [both.id]
    assert ids("tags_any=loyal,vip") == sorted([both.id, only_vip.id])
    assert ids("tags_none=vip") == [neither.id]
    assert ids("tags=vip&tags_none=loyal") == [only_vip.id]
    # an expired or deleted tag does not count
    TagAssignment.objects.filter(customer=only_vip).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert ids("tags=vip") == [both.id]
    Tag.objects.filter(name="loyal").update(is_deleted=True)
    assert ids("tags_any=loyal") == []


def test_customer_object_lists_tags_and_details_on_request(tagger):
    customer = CustomerFactory()
    give(customer, "b", "a")
    plain = tagger.get(f"/api/v1/customers/{customer.id}").json()["customer"]
    assert plain["tags"] == ["a", "b"]
    assert "tag_details" not in plain
    detailed = tagger.get(f"/api/v1/customers/{customer.id}?includes=customer.tag_details").json()
    assert [d["name"] for d in detailed["customer"]["tag_details"]] == ["a", "b"]


# --- query counts ---------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 50])
def test_tag_endpoint_query_count_does_not_grow_with_tags(
    tagger, django_assert_max_num_queries, count, settings
):
    settings.SEGMENT_RULES_RECHECK_SECONDS = 60  # as in production: rules cached between checks
    customer = CustomerFactory()
    add = [f"add{i}" for i in range(count)]
    remove = [f"rm{i}" for i in range(count)]
    Tag.objects.bulk_create([Tag(name=n, name_key=n) for n in add + remove])
    give(customer, *remove)
    tagger.get(f"/api/v1/customers/{customer.id}/tags")  # token's first use
    active_segments()  # rules loaded, as after the first request of a process
    with django_assert_max_num_queries(13) as captured:
        response = tagger.post(
            f"/api/v1/customers/{customer.id}/tag",
            {"tags_to_add": add, "tags_to_remove": remove},
            format="json",
        )
    assert response.json()["tag_count"] == count
    # savepoints aside: auth 1 (token, user, permissions), customer, tags, the writes, and the
    # current tags (which the 250-tag limit is checked on). PostgreSQL: the customer lock, then
    # one statement for the delete, the insert, their history rows and the customer's event;
    # SQLite: two each for the delete and the insert, and one for the event.
    real = [q for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(real) <= (6 if connection.vendor == "postgresql" else 9)
    assert Event.objects.filter(type="customer.tags_changed").count() == 1


@pytest.mark.parametrize("size", [10, 100])
def test_a_page_of_customers_with_tags_costs_3_queries(tagger, django_assert_max_num_queries, size):
    tags = Tag.objects.bulk_create([Tag(name=f"t{i}", name_key=f"t{i}") for i in range(5)])
    customers = Customer.objects.bulk_create([Customer(name=f"c{i}") for i in range(size)])
    TagAssignment.objects.bulk_create(
        [TagAssignment(customer=c, tag=t) for c in customers for t in tags]
    )
    tagger.get("/api/v1/customers/?limit=1")
    # the token with its user and permissions, the page, the page's current tags
    with django_assert_max_num_queries(3):
        page = tagger.get("/api/v1/customers/?limit=100").json()["customers"]
    assert len(page) == min(size, 100)
    assert all(c["tags"] == ["t0", "t1", "t2", "t3", "t4"] for c in page)


# --- bulk_tag --------------------------------------------------------------------------------


def test_bulk_tag_by_ids_with_unknown_ids(tagger):
    customers = CustomerFactory.create_batch(3)
    give(customers[0], "prospect")
    response = tagger.post(
        "/api/v1/customers/bulk_tag",
        {
            "customer_ids": [c.reference_id for c in customers] + ["nobody"],
            "identify_by": "reference_id",
            "tags_to_add": ["vip"],
            "tags_to_remove": ["prospect"],
            "reason": "campaign",
        },
        format="json",
    )
    assert response.status_code == 200
    change_set = ChangeSet.objects.get()
    assert response.json() == {
        "dry_run": False,
        "change_set_id": change_set.pk,
        "matched": 3,
        "tags_added": 3,
        "tags_removed": 1,
        "unknown_ids": ["nobody"],
        "warnings": [],
        "preview": None,
    }
    assert all(tag_names(c) == ["vip"] for c in customers)
    history = TagAssignment.history.filter(history_change_reason="campaign")
    assert {h.change_set_id for h in history} == {change_set.pk}
    assert history.count() == 4


def test_bulk_tag_by_filter(tagger):
    loyal = CustomerFactory.create_batch(2)
    for customer in loyal:
        give(customer, "loyal")
    other = CustomerFactory()
    response = tagger.post(
        "/api/v1/customers/bulk_tag",
        {"filter": {"tags": ["loyal"]}, "tags_to_add": ["vip"]},
        format="json",
    )
    assert response.json()["matched"] == 2
    assert tag_names(other) == []
    assert all(tag_names(c) == ["loyal", "vip"] for c in loyal)


def test_bulk_tag_needs_a_selection(tagger):
    response = tagger.post("/api/v1/customers/bulk_tag", {"tags_to_add": ["x"]}, format="json")
    assert response.status_code == 400
    assert Tag.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "attr", "code"),
    [
        ({"filter": {}}, "filter", "empty"),
        ({"filter": {"tag": ["loyal"]}}, "filter.tag", "unknown_field"),
        ({"filter": {"tags": "loyal"}}, "filter.tags", "not_a_list"),
        ({"filter": {"tags": ["loyal"], "segmnet": "x"}}, "filter.segmnet", "unknown_field"),
        ({"customer_ids": [], "all": True}, "all", "all_with_selection"),
        ({"all": False}, "filter", "empty_selection"),
        ({"filter": {"segment": "0" * 26}}, "filter.segment", "does_not_exist"),
    ],
)
def test_bulk_tag_refuses_an_empty_or_unknown_filter(tagger, body, attr, code):
    # given customers that an ignored filter would all select
    customers = CustomerFactory.create_batch(2)
    give(customers[0], "loyal")
    # when the filter is empty, misspelt or not JSON-shaped
    response = tagger.post(
        "/api/v1/customers/bulk_tag", {**body, "tags_to_add": ["vip"]}, format="json"
    )
    # then it is a 400 naming it, and nobody is tagged
    assert response.status_code == 400, response.json()
    assert (response.json()["errors"][0]["attr"], response.json()["errors"][0]["code"]) == (
        attr,
        code,
    )
    assert not Tag.objects.filter(name="vip").exists()


def test_bulk_tag_all_selects_every_customer_when_asked(tagger):
    customers = CustomerFactory.create_batch(3)
    response = tagger.post(
        "/api/v1/customers/bulk_tag", {"all": True, "tags_to_add": ["vip"]}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["matched"] == 3
    assert all(tag_names(c) == ["vip"] for c in customers)


def test_bulk_tag_filter_takes_every_customer_filter_as_json(tagger):
    # given customers told apart by tags, status label and creation date
    gold, silver, plain = CustomerFactory(), CustomerFactory(), CustomerFactory()
    give(gold, "gold")
    give(gold, "vip")
    give(silver, "vip")
    body = {
        "filter": {
            "tags": ["vip"],
            "tags_any": ["gold", "silver"],
            "tags_none": ["banned"],
            "label": "Active",
            "status": "active",
            "created_after": "2000-01-01T00:00:00Z",
        },
        "tags_to_add": ["picked"],
    }
    response = tagger.post("/api/v1/customers/bulk_tag", body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["matched"] == 1
    assert "picked" in tag_names(gold)
    assert "picked" not in tag_names(silver) + tag_names(plain)


def test_bulk_tag_with_ids_and_filter_takes_the_intersection(tagger):
    loyal, plain = CustomerFactory(), CustomerFactory()
    give(loyal, "loyal")
    response = tagger.post(
        "/api/v1/customers/bulk_tag",
        {
            "customer_ids": [loyal.id, plain.id],
            "filter": {"tags": ["loyal"]},
            "tags_to_add": ["vip"],
        },
        format="json",
    )
    assert response.json()["matched"] == 1
    assert tag_names(plain) == []


def test_bulk_tag_filter_over_the_limit_is_a_400(tagger, monkeypatch):
    monkeypatch.setattr("customers.api.tagging_views.BULK_LIMIT", 2)
    CustomerFactory.create_batch(3)
    response = tagger.post(
        "/api/v1/customers/bulk_tag", {"all": True, "tags_to_add": ["x"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "filter"
    assert not TagAssignment.objects.exists()


def test_bulk_tag_statements_are_per_batch_not_per_customer(tagger):
    from django.db import connection as conn
    from django.test.utils import CaptureQueriesContext

    TagFactory(name="vip")
    tagger.get("/api/v1/customers/?limit=1")
    counts = {}
    for size in (20, 1000):
        Customer.objects.all().delete()
        customers = Customer.objects.bulk_create([Customer(name=f"c{i}") for i in range(size)])
        with CaptureQueriesContext(conn) as captured:
            response = tagger.post(
                "/api/v1/customers/bulk_tag",
                {"customer_ids": [c.id for c in customers], "tags_to_add": ["vip"]},
                format="json",
            )
        assert response.json()["tags_added"] == size
        counts[size] = len(captured.captured_queries)
    # 980 more customers cost at most one statement per 50 of them (SQLite's small batches)
    assert counts[1000] - counts[20] <= 980 / 50, counts


# --- concurrency ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_adds_and_removes_never_lose_a_tag():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL for truly concurrent writers")
    customers = CustomerFactory.create_batch(5)
    names = [f"t{i}" for i in range(8)]
    for name in names:
        TagFactory(name=name)
    raw = make_client(
        "customers.view_customer", "customers.tag_customer", username="worker"
    ).raw_token
    statuses: list[int] = []

    def worker(seed: int):
        from rest_framework.test import APIClient

        rng = random.Random(seed)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        try:
            for _ in range(200):
                customer = rng.choice(customers)
                body = (
                    {"tags_to_add": rng.sample(names, 2)}
                    if rng.random() < 0.6
                    else {"tags_to_remove": rng.sample(names, 2)}
                )
                statuses.append(
                    client.post(
                        f"/api/v1/customers/{customer.id}/tag", body, format="json"
                    ).status_code
                )
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(statuses) == 1600
    assert set(statuses) == {200}
    for customer in customers:
        # replay the history log: the final set is what the recorded adds and removes say
        held: set[str] = set()
        for record in TagAssignment.history.filter(customer_id=customer.id).order_by(
            "history_date", "history_id"
        ):
            if record.history_type == "+":
                assert record.tag_id not in held, "an add was recorded for a tag already held"
                held.add(record.tag_id)
            else:
                assert record.tag_id in held, "a remove was recorded for a tag not held"
                held.discard(record.tag_id)
        assert held == set(
            TagAssignment.objects.filter(customer=customer).values_list("tag_id", flat=True)
        )


def test_service_is_usable_without_the_api():
    customer = CustomerFactory()
    result = customer_tags_change(
        customer=customer, change=TagChange(add=["a", "b"], source="import"), actor=None
    )
    assert (result.added, result.current_tags) == (["a", "b"], ["a", "b"])
    assert set(TagAssignment.objects.values_list("source", flat=True)) == {"import"}


def test_removing_an_expired_assignment_is_a_warning_and_writes_nothing(tagger):
    # given a customer whose "trial" tag expired yesterday, and a current "vip"
    customer = CustomerFactory()
    expired = TagAssignmentFactory(
        customer=customer,
        tag=TagFactory(name="trial"),
        expires_at=timezone.now() - timedelta(days=1),
    )
    give(customer, "vip")
    history_before = TagAssignment.history.count()
    # when both are removed
    response = tagger.post(
        f"/api/v1/customers/{customer.id}/tag",
        {"tags_to_remove": ["trial", "vip"]},
        format="json",
    )
    # then only the current one counts as removed; the expired one is a warning
    assert response.status_code == 200
    body = response.json()
    assert body["tags_removed"] == ["vip"]
    assert any("trial" in warning for warning in body["warnings"])
    # and only the real removal has a history row; the expired row is left to expire_tags
    assert TagAssignment.history.count() == history_before + 1
    assert TagAssignment.history.filter(id=expired.pk, history_type="-").count() == 0
    assert TagAssignment.objects.filter(pk=expired.pk).exists()


def test_untag_by_keys_of_an_expired_assignment_is_a_warning(tagger):
    customer = CustomerFactory()
    TagAssignmentFactory(
        customer=customer,
        tag=TagFactory(name="trial"),
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    history_before = TagAssignment.history.count()
    response = tagger.delete(f"/api/v1/customers/{customer.id}/tags?keys=trial")
    assert response.status_code == 200
    assert any("trial" in warning for warning in response.json()["warnings"])
    assert TagAssignment.history.count() == history_before


def _customer_at_the_limit() -> Customer:
    """A customer holding exactly 250 current tags."""
    customer = CustomerFactory()
    tags = Tag.objects.bulk_create([Tag(name=f"full{i}", name_key=f"full{i}") for i in range(250)])
    TagAssignment.objects.bulk_create([TagAssignment(customer=customer, tag=t) for t in tags])
    return customer


def test_bulk_tag_over_the_250_limit_for_one_customer_writes_nothing_for_anyone(tagger):
    # given one customer at the limit among others
    full = _customer_at_the_limit()
    others = CustomerFactory.create_batch(2)
    TagFactory(name="extra")
    assignments_before = TagAssignment.objects.count()
    history_before = TagAssignment.history.count()
    # when a bulk call would give all of them one more tag
    response = tagger.post(
        "/api/v1/customers/bulk_tag",
        {"customer_ids": [c.id for c in [*others, full]], "tags_to_add": ["extra"]},
        format="json",
    )
    # then the whole call is refused, naming the limit, and nothing is written
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert (error["code"], error["attr"]) == ("too_many_tags", "tags_to_add")
    assert full.id in error["detail"]
    assert TagAssignment.objects.count() == assignments_before
    assert TagAssignment.history.count() == history_before


def test_retag_over_the_250_limit_is_refused_and_writes_nothing():
    from django.core.management import CommandError

    full = _customer_at_the_limit()
    CustomerFactory.create_batch(2)
    TagFactory(name="extra")
    assignments_before = TagAssignment.objects.count()
    with pytest.raises(CommandError, match=f"at most 250 tags.*{full.id}"):
        call_command("retag", "--all", "--add", "extra", stdout=io.StringIO())
    assert TagAssignment.objects.count() == assignments_before
    assert not TagAssignment.objects.filter(tag__name="extra").exists()


def test_more_than_100_names_to_remove_is_a_400(tagger):
    customer = CustomerFactory()
    give(customer, "t0")
    response = tagger.post(
        f"/api/v1/customers/{customer.id}/tag",
        {"tags_to_remove": [f"t{i}" for i in range(101)]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "tags_to_remove"
    assert tag_names(customer) == ["t0"]


def test_untag_with_more_than_100_keys_is_a_400(tagger):
    customer = CustomerFactory()
    give(customer, "t0")
    keys = ",".join(f"t{i}" for i in range(101))
    response = tagger.delete(f"/api/v1/customers/{customer.id}/tags?keys={keys}")
    assert response.status_code == 400
    assert tag_names(customer) == ["t0"]


@pytest.mark.parametrize(
    "spelling", ["frequent buyers", "  Frequent   Buyers ", "FREQUENT  BUYERS"]
)
def test_names_match_whatever_the_case_and_spacing(tagger, spelling):
    # given a tag stored as "Frequent Buyers" on the customer
    customer = CustomerFactory()
    give(customer, "Frequent Buyers")
    # when it is removed under another spelling, then added back under it
    removed = tagger.post(
        f"/api/v1/customers/{customer.id}/tag", {"tags_to_remove": [spelling]}, format="json"
    )
    added = tagger.post(
        f"/api/v1/customers/{customer.id}/tag", {"tags_to_add": [spelling]}, format="json"
    )
    # then both matched the one tag (no second tag created), reported under its stored name
    assert removed.json()["tags_removed"] == ["Frequent Buyers"]
    assert added.json()["tags_added"] == ["Frequent Buyers"]
    assert Tag.objects.count() == 1
    assert tag_names(customer) == ["Frequent Buyers"]
