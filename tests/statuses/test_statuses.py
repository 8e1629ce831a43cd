"""Status labels: the Capillary lookup endpoint, changes with reasons, the taxonomy, the admin."""

from datetime import UTC, datetime

import pytest
from django.test import Client

from customers.models import Customer
from statuses.models import Status, StatusChange, StatusLabel
from statuses.services import label_save
from tests.conftest import make_client
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db
LOOKUP = "/api/v1/customers/lookup/status"


@pytest.fixture
def changer(db):
    return make_client("customers.view_customer", "statuses.change_customer_status")


def lookup(client, body, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.put(f"{LOOKUP}?{query}", body, format="json")


def labels(*pairs):
    """Create labels: labels(("High Value", "Active"), ("Suspicious", "Suspended"))."""
    for name, status in pairs:
        label_save(
            label=None, data={"name": name, "status": Status.objects.get(name=status)}, actor=None
        )


def test_new_customers_get_the_default_label():
    customer = CustomerFactory()
    assert (customer.status_label.name, customer.status_label.status.name) == ("Active", "Active")
    assert set(StatusLabel.objects.values_list("name", "status__name")) >= {
        ("Active", "Active"),
        ("Inactive", "Inactive"),
        ("Suspended", "Suspended"),
    }


def test_the_capillary_example_returns_the_id_of_the_recorded_change(changer):
    # given the customer of the example, currently Inactive
    customer = CustomerFactory(mobile="1234512345")
    customer.status_label = StatusLabel.objects.get(name="Inactive")
    customer.save()
    # when the documented request is replayed
    response = lookup(
        changer,
        {"reason": "testing2", "label": "Active"},
        source="INSTORE",
        identifierName="mobile",
        identifierValue="1234512345",
    )
    # then
    assert response.status_code == 200
    body = response.json()
    change = StatusChange.objects.get()
    assert body == {"createdId": change.pk, "warnings": []}
    assert (change.from_label.name, change.to_label.name, change.reason, change.source) == (
        "Inactive",
        "Active",
        "testing2",
        "INSTORE",
    )
    assert change.created_by == changer.user


def test_high_value_to_suspicious_moves_the_customer_to_suspended(changer):
    labels(("High Value", "Active"), ("Suspicious", "Suspended"))
    customer = CustomerFactory(email="vip@example.com")
    lookup(
        changer,
        {"reason": "big spender", "label": "High Value"},
        source="WEB",
        identifierName="email",
        identifierValue="vip@example.com",
    )
    response = lookup(
        changer,
        {"reason": "chargebacks", "label": "Suspicious"},
        source="CALL_CENTER",
        identifierName="email",
        identifierValue="vip@example.com",
    )
    assert response.status_code == 200
    got = changer.get(f"/api/v1/customers/{customer.id}").json()["customer"]["status"]
    assert got == {"status": "Suspended", "label": "Suspicious"}


def test_setting_the_same_label_records_nothing(changer):
    CustomerFactory(mobile="1234512345")
    response = lookup(
        changer,
        {"reason": "again", "label": "active"},
        source="API",
        identifierName="mobile",
        identifierValue="1234512345",
    )
    assert response.json()["createdId"] is None
    assert len(response.json()["warnings"]) == 1
    assert StatusChange.objects.count() == 0


@pytest.mark.parametrize(
    ("params", "status", "code", "attr"),
    [
        ({"identifierName": "mobile", "identifierValue": "1234512345"}, 400, "8003", "source"),
        (
            {"source": "SHOP", "identifierName": "mobile", "identifierValue": "1234512345"},
            400,
            "8003",
            "source",
        ),
        (
            {"source": "INSTORE", "identifierName": "phone", "identifierValue": "1234512345"},
            400,
            "8013",
            "identifierName",
        ),
        ({"source": "INSTORE", "identifierValue": "1234512345"}, 400, "8013", "identifierName"),
        ({"source": "INSTORE", "identifierName": "mobile"}, 400, "8013", "identifierValue"),
        (
            {"source": "INSTORE", "identifierName": "mobile", "identifierValue": "5550000000"},
            404,
            "8015",
            None,
        ),
    ],
)
def test_each_capillary_error_code_with_its_trigger(changer, params, status, code, attr):
    CustomerFactory(mobile="1234512345")
    response = lookup(changer, {"reason": "x", "label": "Suspended"}, **params)
    assert response.status_code == status
    (error,) = response.json()["errors"]
    assert (error["code"], error["attr"]) == (code, attr)
    assert StatusChange.objects.count() == 0


def test_unknown_label_is_invalid_label(changer):
    CustomerFactory(mobile="1234512345")
    response = lookup(
        changer,
        {"reason": "x", "label": "Platinum"},
        source="API",
        identifierName="mobile",
        identifierValue="1234512345",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "code": "invalid_label",
        "detail": "No status label named 'Platinum'.",
        "attr": "label",
    }


def test_reason_is_required(changer):
    CustomerFactory(mobile="1234512345")
    response = lookup(
        changer,
        {"label": "Suspended"},
        source="API",
        identifierName="mobile",
        identifierValue="1234512345",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "reason"
    assert StatusChange.objects.count() == 0


@pytest.mark.parametrize(
    ("identifier", "value"),
    [
        ("email", "Ada.Lovelace%40EXAMPLE.com"),
        ("externalId", "crm-7"),
        ("mobile", "%2B1%20555%200100000"),
    ],
)
def test_lookup_by_each_identifier_email_case_insensitively(changer, identifier, value):
    customer = CustomerFactory(
        email="ada.lovelace@example.com", reference_id="crm-7", mobile="15550100000"
    )
    response = lookup(
        changer,
        {"reason": "r", "label": "Suspended"},
        source="WEB",
        identifierName=identifier,
        identifierValue=value,
    )
    assert response.status_code == 200, response.json()
    customer.refresh_from_db()
    assert customer.status_label.name == "Suspended"


def test_a_past_date_is_kept_as_effective_at(changer):
    customer = CustomerFactory()
    response = changer.put(
        f"/api/v1/customers/{customer.id}/status",
        {
            "reason": "back-dated",
            "label": "Suspended",
            "date": "2024-03-01T10:00:00Z",
            "source": "CALL_CENTER",
        },
        format="json",
    )
    assert response.status_code == 200
    change = StatusChange.objects.get(pk=response.json()["createdId"])
    assert change.effective_at == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert change.source == "CALL_CENTER"


def test_a_transition_rule_refusal_names_the_allowed_targets(changer):
    labels(("Probation", "Active"))
    suspended = StatusLabel.objects.get(name="Suspended")
    suspended.allowed_next.set(
        [StatusLabel.objects.get(name="Probation"), StatusLabel.objects.get(name="Inactive")]
    )
    customer = CustomerFactory()
    customer.status_label = suspended
    customer.save()
    refused = changer.put(
        f"/api/v1/customers/{customer.id}/status", {"reason": "x", "label": "Active"}, format="json"
    )
    assert refused.status_code == 409
    (error,) = refused.json()["errors"]
    assert error["code"] == "transition_not_allowed"
    assert "allowed: Inactive, Probation" in error["detail"]
    allowed = changer.put(
        f"/api/v1/customers/{customer.id}/status",
        {"reason": "x", "label": "Probation"},
        format="json",
    )
    assert allowed.status_code == 200


def test_history_shows_who_and_why(changer, django_assert_max_num_queries):
    customer = CustomerFactory()
    for label, reason in (
        ("Suspended", "fraud check"),
        ("Active", "cleared"),
        ("Inactive", "closed"),
    ):
        changer.put(
            f"/api/v1/customers/{customer.id}/status",
            {"reason": reason, "label": label},
            format="json",
        )
    with django_assert_max_num_queries(5):
        history = changer.get(f"/api/v1/customers/{customer.id}/status_history").json()[
            "status_changes"
        ]
    assert [
        (h["from_label"], h["to_label"], h["status"], h["reason"], h["created_by"]) for h in history
    ] == [
        ("Active", "Suspended", "Suspended", "fraud check", changer.user.username),
        ("Suspended", "Active", "Active", "cleared", changer.user.username),
        ("Active", "Inactive", "Inactive", "closed", changer.user.username),
    ]
    record = customer.history.latest("history_id")
    assert (record.history_user, record.history_change_reason) == (changer.user, "closed")


def test_status_change_needs_its_permission():
    customer = CustomerFactory()
    reader = make_client("customers.view_customer", "customers.change_customer")
    response = reader.put(
        f"/api/v1/customers/{customer.id}/status",
        {"reason": "x", "label": "Suspended"},
        format="json",
    )
    assert response.status_code == 403
    assert StatusChange.objects.count() == 0


def test_customer_filters_status_and_label(changer):
    labels(("High Value", "Active"))
    vip, plain, gone = CustomerFactory(), CustomerFactory(), CustomerFactory()
    for customer, label in ((vip, "High Value"), (gone, "Suspended")):
        changer.put(
            f"/api/v1/customers/{customer.id}/status",
            {"reason": "x", "label": label},
            format="json",
        )

    def ids(query):
        return sorted(
            c["id"] for c in changer.get(f"/api/v1/customers/?{query}").json()["customers"]
        )

    assert ids("status=active") == sorted([vip.id, plain.id])
    assert ids("label=high value") == [vip.id]
    assert ids("status=Suspended") == [gone.id]


@pytest.mark.parametrize("size", [5, 50])
def test_customer_list_with_status_stays_constant(changer, django_assert_max_num_queries, size):
    Customer.objects.bulk_create([Customer(name=f"c{i}") for i in range(size)])
    changer.get("/api/v1/customers/?limit=1")
    with django_assert_max_num_queries(4):
        page = changer.get("/api/v1/customers/?limit=100").json()["customers"]
    assert {c["status"]["label"] for c in page} == {"Active"}


# --- the taxonomy ---------------------------------------------------------------------------


@pytest.fixture
def admin_api(db):
    client = make_client(username="root")
    client.user.is_superuser = True
    client.user.save()
    return client


def test_status_and_label_crud(admin_api):
    status = admin_api.post(
        "/api/v1/statuses/",
        {"name": "Dormant", "description": "No orders for a year"},
        format="json",
    )
    assert status.status_code == 201
    status_id = status.json()["status"]["id"]
    label = admin_api.post(
        "/api/v1/status_labels/", {"name": "Sleeping", "status": "dormant"}, format="json"
    )
    assert label.status_code == 201
    assert label.json()["status_label"]["status"] == "Dormant"
    assert admin_api.get(f"/api/v1/statuses/{status_id}").json()["status"]["labels"] == ["Sleeping"]
    duplicate = admin_api.post(
        "/api/v1/status_labels/", {"name": "SLEEPING", "status": "Active"}, format="json"
    )
    assert duplicate.status_code == 409
    unknown = admin_api.post(
        "/api/v1/status_labels/", {"name": "X", "status": "Nope"}, format="json"
    )
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["attr"] == "status"
    # a status with labels cannot go; its label can once nobody holds it
    assert admin_api.delete(f"/api/v1/statuses/{status_id}").status_code == 409
    label_id = label.json()["status_label"]["id"]
    assert admin_api.delete(f"/api/v1/status_labels/{label_id}").status_code == 204
    assert admin_api.delete(f"/api/v1/statuses/{status_id}").status_code == 204


def test_a_label_customers_hold_cannot_be_deleted(admin_api):
    labels(("Gold", "Active"))
    customer = CustomerFactory()
    customer.status_label = StatusLabel.objects.get(name="Gold")
    customer.save()
    gold = StatusLabel.objects.get(name="Gold")
    response = admin_api.delete(f"/api/v1/status_labels/{gold.id}")
    assert response.status_code == 409
    assert "1 customer(s) hold the label 'Gold'" in response.json()["errors"][0]["detail"]
    assert StatusLabel.objects.filter(pk=gold.pk).exists()


def test_the_default_label_cannot_be_deleted_or_renamed(admin_api):
    active = StatusLabel.objects.get(name="Active")
    Customer.objects.all().delete()
    assert admin_api.delete(f"/api/v1/status_labels/{active.id}").status_code == 409
    assert (
        admin_api.patch(
            f"/api/v1/status_labels/{active.id}", {"name": "Live"}, format="json"
        ).status_code
        == 409
    )


# --- the admin --------------------------------------------------------------------------------


def test_admin_change_status_action_asks_for_label_and_reason():
    boss = UserFactory(username="boss", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(boss)
    customers = CustomerFactory.create_batch(3)
    ids = [c.pk for c in customers]
    suspended = StatusLabel.objects.get(name="Suspended")
    # first: the confirmation page, nothing changed yet
    page = client.post(
        "/admin/customers/customer/", {"action": "change_status", "_selected_action": ids}
    )
    assert page.status_code == 200
    assert b"Change the status of 3 customers" in page.content
    assert StatusChange.objects.count() == 0
    # then: apply with a reason
    done = client.post(
        "/admin/customers/customer/",
        {
            "action": "change_status",
            "_selected_action": ids,
            "apply": "1",
            "label": suspended.pk,
            "reason": "fraud ring",
        },
    )
    assert done.status_code == 302
    changes = StatusChange.objects.all()
    assert changes.count() == 3
    assert {(c.reason, c.source, c.created_by_id) for c in changes} == {
        ("fraud ring", "ADMIN", boss.pk)
    }


def test_admin_status_changes_are_read_only():
    boss = UserFactory(username="boss", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(boss)
    customer = CustomerFactory()
    change = StatusChange.objects.create(
        customer=customer,
        from_label=customer.status_label,
        to_label=StatusLabel.objects.get(name="Inactive"),
        reason="r",
        source="API",
    )
    assert client.get("/admin/statuses/statuschange/").status_code == 200
    assert client.get("/admin/statuses/statuschange/add/").status_code == 403
    assert (
        client.post(
            f"/admin/statuses/statuschange/{change.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    assert client.get("/admin/statuses/status/").status_code == 200


def test_lookup_keeps_the_account_id_and_returns_it_in_the_history(changer):
    # given a customer found by its mobile
    customer = CustomerFactory(mobile="1234512345")
    # when the change names the source's account
    response = lookup(
        changer,
        {"reason": "till 4", "label": "Suspended"},
        source="INSTORE",
        identifierName="mobile",
        identifierValue="1234512345",
        accountId="store-42",
    )
    # then the change keeps it, and the customer's status history shows it
    assert response.status_code == 200
    assert StatusChange.objects.get(pk=response.json()["createdId"]).account_id == "store-42"
    history = changer.get(f"/api/v1/customers/{customer.id}/status_history").json()
    assert [entry["account_id"] for entry in history["status_changes"]] == ["store-42"]


def test_lookup_without_an_account_id_stores_an_empty_one(changer):
    CustomerFactory(mobile="1234512345")
    response = lookup(
        changer,
        {"reason": "r", "label": "Suspended"},
        source="API",
        identifierName="mobile",
        identifierValue="1234512345",
    )
    assert StatusChange.objects.get(pk=response.json()["createdId"]).account_id == ""


def test_lookup_by_id_any_case(changer):
    customer = CustomerFactory()
    response = lookup(
        changer,
        {"reason": "r", "label": "Suspended"},
        source="API",
        identifierName="id",
        identifierValue=str(customer.id).upper(),
    )
    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.status_label.name == "Suspended"


@pytest.mark.parametrize(("value", "status"), [("true", 200), ("false", 200), ("maybe", 400)])
def test_lookup_async_is_a_boolean(changer, value, status):
    customer = CustomerFactory(mobile="1234512345")
    response = lookup(
        changer,
        {"reason": "r", "label": "Suspended"},
        source="API",
        identifierName="mobile",
        identifierValue="1234512345",
        **{"async": value},
    )
    assert response.status_code == status
    customer.refresh_from_db()
    # the change applies before the response either way; a bad flag changes nothing
    assert customer.status_label.name == ("Suspended" if status == 200 else "Active")
    if status == 400:
        assert response.json()["errors"][0]["attr"] == "async"


def test_lookup_keeps_a_given_date_as_effective_at(changer):
    CustomerFactory(mobile="1234512345")
    response = lookup(
        changer,
        {"reason": "r", "label": "Suspended", "date": "2024-03-01T10:00:00Z"},
        source="API",
        identifierName="mobile",
        identifierValue="1234512345",
    )
    change = StatusChange.objects.get(pk=response.json()["createdId"])
    assert change.effective_at == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert change.created_at > change.effective_at


@pytest.mark.parametrize("allowed_next", [{}, {"Active": 1}, "Active", [1], ["x" * 101]])
def test_allowed_next_must_be_a_list_of_names(admin_api, allowed_next):
    label = StatusLabel.objects.get(name="Inactive")
    status = Status.objects.get(name="Inactive")
    for method, url in (
        ("patch", f"/api/v1/status_labels/{label.id}"),
        ("put", f"/api/v1/status_labels/{label.id}"),
        ("put", f"/api/v1/statuses/{status.id}"),
    ):
        body = {"name": "Inactive", "allowed_next": allowed_next}
        if "status_labels" in url:
            body["status"] = "Inactive"
        response = getattr(admin_api, method)(url, body, format="json")
        assert response.status_code == 400, (url, response.json())
        assert response.json()["errors"][0]["attr"].startswith("allowed_next")
    assert not label.allowed_next.exists()
    assert not status.allowed_next.exists()


@pytest.mark.parametrize(
    ("url", "body", "attr"),
    [
        ("/api/v1/statuses/", {"name": "Dormant", "description": "d" * 10_001}, "description"),
        (
            "/api/v1/status_labels/",
            {"name": "Sleeping", "status": "Active", "description": "d" * 10_001},
            "description",
        ),
        ("/api/v1/status_labels/", {"name": "Sleeping", "status": "A" * 101}, "status"),
        ("/api/v1/statuses/", {"name": "Dormant", "reason": "r" * 256}, "reason"),
        ("/api/v1/statuses/", {"name": "Dormant", "id": "x"}, "id"),
    ],
)
def test_status_taxonomy_text_is_bounded(admin_api, url, body, attr):
    response = admin_api.post(url, body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == attr
    assert not Status.objects.filter(name="Dormant").exists()
    assert not StatusLabel.objects.filter(name="Sleeping").exists()


@pytest.mark.parametrize(
    ("params", "attr"),
    [
        ({"accountId": "a" * 101}, "accountId"),
        ({"identifierValue": "1" * 255}, "identifierValue"),
    ],
)
def test_lookup_query_text_is_bounded(changer, params, attr):
    customer = CustomerFactory(mobile="1234512345")
    query = {"source": "INSTORE", "identifierName": "mobile", "identifierValue": "1234512345"}
    response = lookup(changer, {"reason": "r", "label": "Inactive"}, **{**query, **params})
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == attr
    assert not StatusChange.objects.filter(customer=customer).exists()


def test_status_change_body_refuses_unknown_fields(changer):
    CustomerFactory(mobile="1234512345")
    query = {"source": "INSTORE", "identifierName": "mobile", "identifierValue": "1234512345"}
    response = lookup(changer, {"reason": "r", "label": "Inactive", "lable": "x"}, **query)
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "lable"
    assert not StatusChange.objects.exists()
