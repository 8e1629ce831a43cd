import pytest
from django.core.management import call_command
from django.test import Client

from config.exceptions import Conflict
from customers import services
from customers.identifiers import normalize_mobile
from customers.models import Customer
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("+593 99-123 4567", "593991234567"),
        ("00593 (99) 123.4567", "593991234567"),
        ("1234512345", "1234512345"),
        ("123456", None),  # too short
        ("1234567890123456", None),  # too long
        ("12345abc90", None),
        ("١٢٣٤٥٦٧٨", None),  # non-ASCII digits
    ],
)
def test_mobile_normalisation(raw, stored):
    assert normalize_mobile(raw) == stored


def test_create_normalises_identifiers_and_records_history():
    user = UserFactory()
    customer = services.customer_create(
        data={"name": "Ada", "email": " Ada@Example.COM ", "mobile": "+1 555 010 0000"},
        actor=user,
        reason="import",
    )
    customer.refresh_from_db()
    assert (customer.email, customer.mobile) == ("ada@example.com", "15550100000")
    record = customer.history.get()
    assert (record.history_user, record.history_change_reason) == (user, "import")


def test_email_is_unique_case_insensitively_through_the_api(api):
    CustomerFactory(email="ada@example.com")
    response = api.post("/api/v1/customers/", {"email": "ADA@example.com"})
    assert response.status_code == 409
    assert response.json() == {
        "type": "client_error",
        "errors": [
            {
                "code": "duplicate",
                "detail": "A customer with this email already exists.",
                "attr": "email",
            }
        ],
    }
    assert Customer.objects.count() == 1


def test_mobile_is_unique_in_any_formatting(api):
    CustomerFactory(mobile="593991234567")
    response = api.post("/api/v1/customers/", {"mobile": "+593 99 123 4567"})
    assert response.status_code == 409
    assert response.json()["errors"][0]["attr"] == "mobile"


def test_a_lost_uniqueness_race_is_a_conflict_not_a_500(monkeypatch):
    CustomerFactory(email="ada@example.com")
    # as in a race: the up-front check sees nothing, the unique constraint catches it
    monkeypatch.setattr(services, "_check_unique", lambda customer: None)
    with pytest.raises(Conflict, match="Another customer already has"):
        services.customer_create(data={"email": "ada@example.com"}, actor=None)
    assert Customer.objects.count() == 1


def test_updating_to_another_customers_reference_id_is_a_409(api):
    CustomerFactory(reference_id="taken")
    customer = CustomerFactory(reference_id="mine")
    response = api.patch(f"/api/v1/customers/{customer.id}", {"reference_id": "taken"})
    assert response.status_code == 409
    assert response.json()["errors"][0]["attr"] == "reference_id"
    customer.refresh_from_db()
    assert customer.reference_id == "mine"


def test_update_without_changes_writes_nothing():
    customer = CustomerFactory(name="Ada")
    before = customer.updated_at
    services.customer_update(customer=customer, data={"name": "Ada"}, actor=None)
    customer.refresh_from_db()
    assert customer.updated_at == before
    assert customer.history.count() == 1


def test_api_create_update_and_search(api):
    created = api.post(
        "/api/v1/customers/",
        {"name": "Grace Hopper", "email": "grace@navy.mil", "reference_id": "gh-1"},
    )
    assert created.status_code == 201
    customer_id = created.json()["customer"]["id"]
    CustomerFactory(name="Someone Else")
    found = api.get("/api/v1/customers/?search=hopper").json()["customers"]
    assert [c["id"] for c in found] == [customer_id]
    by_ref = api.get("/api/v1/customers/?search=gh-1").json()["customers"]
    assert [c["id"] for c in by_ref] == [customer_id]
    updated = api.put(
        f"/api/v1/customers/{customer_id}",
        {"name": "Rear Admiral Grace Hopper", "email": "grace@navy.mil", "reference_id": "gh-1"},
    )
    assert updated.status_code == 200
    assert updated.json()["customer"]["name"] == "Rear Admiral Grace Hopper"


def test_created_after_and_before_filters(api):
    old = CustomerFactory()
    Customer.objects.filter(pk=old.pk).update(created_at="2020-01-01T00:00:00Z")
    new = CustomerFactory()
    after = api.get("/api/v1/customers/?created_after=2021-01-01T00:00:00Z").json()
    before = api.get("/api/v1/customers/?created_before=2021-01-01T00:00:00Z").json()
    assert [c["id"] for c in after["customers"]] == [new.id]
    assert [c["id"] for c in before["customers"]] == [old.id]
    bad = api.get("/api/v1/customers/?created_after=yesterday")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["attr"] == "created_after"


def test_admin_search_and_edit_go_through_the_service():
    admin = UserFactory(username="boss", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    customer = CustomerFactory(name="Ada Lovelace", email="ada@example.com")
    CustomerFactory(name="Charles Babbage")
    listing = client.get("/admin/customers/customer/?q=lovelace")
    assert listing.status_code == 200
    assert b"Ada Lovelace" in listing.content
    assert b"Charles Babbage" not in listing.content
    response = client.post(
        f"/admin/customers/customer/{customer.pk}/change/",
        {
            "name": "Ada King",
            "email": "ADA@example.com",
            "mobile": "",
            "reference_id": "",
            "metadata": "{}",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    customer.refresh_from_db()
    assert (customer.name, customer.email) == ("Ada King", "ada@example.com")
    assert customer.history.latest("history_id").history_user == admin
    history = client.get(f"/admin/customers/customer/{customer.pk}/history/")
    assert history.status_code == 200


def test_seed_demo_is_deterministic_and_reusable(capsys):
    call_command("seed_demo", "--customers", "20", "--seed", "7")
    first = list(Customer.objects.order_by("reference_id").values_list("name", "email"))
    assert len(first) == 20
    call_command("seed_demo", "--customers", "20", "--if-empty")
    assert Customer.objects.count() == 20
    Customer.objects.all().delete()
    call_command("seed_demo", "--customers", "20", "--seed", "7")
    assert list(Customer.objects.order_by("reference_id").values_list("name", "email")) == first
    # demo tags (through the tagging service, with history) and the demo segments
    from segments.models import Segment
    from tags.models import Tag, TagAssignment

    assert Tag.objects.count() == 12
    assert TagAssignment.objects.exists()
    assert TagAssignment.history.filter(history_change_reason="demo data").exists()
    assert set(Segment.objects.values_list("name", flat=True)) == {
        "Premium Customers",
        "Highly Engaged",
        "Win back",
    }


def test_demo_admin_prints_a_random_password_once(capsys):
    from django.contrib.auth import authenticate

    call_command("demo_admin")
    out = capsys.readouterr().out
    password = out.split("Demo admin: admin / ")[1].split()[0]
    assert authenticate(username="admin", password=password) is not None
    call_command("demo_admin")
    assert password not in capsys.readouterr().out


def test_seed_demo_options_history_and_appending():
    from segments.models import Segment
    from tags.models import Tag, TagAssignment

    call_command("seed_demo", "--customers", "400", "--tags", "30", "--tags-per-customer", "4",
                 "--segments", "6", "--seed", "3")  # fmt: skip
    assert (Customer.objects.count(), Tag.objects.count(), Segment.objects.count()) == (400, 30, 6)
    per_customer = TagAssignment.objects.count() / 400
    assert 3 <= per_customer <= 5
    # every row has its "created" history row, and ids sort like creation times (ULIDs)
    assert Customer.history.filter(history_type="+").count() == 400
    assert TagAssignment.history.count() == TagAssignment.objects.count()
    by_id = list(Customer.objects.order_by("id").values_list("created_at", flat=True))
    assert by_id == sorted(by_id)
    assert Customer.objects.values("status_label").distinct().count() >= 3
    # popular tags are popular: the first tag is on more customers than the last
    first, last = Tag.objects.get(name="newsletter"), Tag.objects.get(name="tag-0029")
    assert first.assignments.count() > 5 * max(1, last.assignments.count())
    call_command("seed_demo", "--customers", "10", "--tags", "30", "--seed", "3")
    assert Customer.objects.count() == 410  # a second load appends


def test_seed_demo_refuses_impossible_options():
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="cannot exceed"):
        call_command("seed_demo", "--tags", "3", "--tags-per-customer", "5")
    assert not Customer.objects.exists()


@pytest.mark.parametrize(
    ("param", "size"),
    [("search", 256), ("status", 101), ("label", 101), ("segment", 27), ("tags", 10_101)],
)
def test_customer_filter_text_longer_than_its_column_is_a_400(api, param, size):
    response = api.get("/api/v1/customers/", {param: "a" * size})
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == param
    assert response.json()["errors"][0]["code"] == "max_length"


def test_a_change_and_a_delete_without_a_reason_have_no_reason_in_their_history():
    # given a customer and a signed-in user
    customer = CustomerFactory(name="Ada")
    user = UserFactory()
    # when the service changes and then deletes it without naming a reason
    services.customer_update(customer=customer, data={"name": "Ada L"}, actor=user)
    services.customer_delete(customer=customer, actor=user)
    # then both history rows name the user and no reason (not a placeholder)
    rows = Customer.history.filter(id=customer.id).order_by("history_id")
    assert [(r.history_type, r.name, r.history_user, r.history_change_reason) for r in rows] == [
        ("+", "Ada", None, None),
        ("~", "Ada L", user, None),
        ("-", "Ada L", user, None),
    ]
    assert not Customer.objects.filter(pk=customer.pk).exists()
