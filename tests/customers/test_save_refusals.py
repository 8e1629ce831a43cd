"""A customer write refused: with no identity at all (400 ``no_identity`` on ``name``), and a
duplicate that slipped past the check (a concurrent writer took the email first: the unique
index's IntegrityError becomes the same 409 ``duplicate``), nothing written either way."""

import pytest

from config.events.models import Event
from customers import services
from customers.models import Customer
from tests.conftest import make_client
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def codes(response) -> list[tuple[str, str | None]]:
    return [(e["code"], e["attr"]) for e in response.json()["errors"]]


def test_a_customer_with_no_identity_is_refused_naming_the_rule():
    client = make_client("customers.add_customer")
    response = client.post("/api/v1/customers/", {"name": "   ", "email": ""}, format="json")
    assert response.status_code == 400
    assert codes(response) == [("no_identity", "name")]
    assert not Customer.objects.exists()
    assert not Event.objects.exists()


def test_a_duplicate_the_check_missed_is_the_same_409(monkeypatch):
    # given the check passing (as it does for a writer that lost a race to a concurrent one)
    CustomerFactory(email="ada@example.com")
    monkeypatch.setattr(services, "_check_unique", lambda customer: None)
    client = make_client("customers.add_customer")
    response = client.post("/api/v1/customers/", {"email": "ada@example.com"}, format="json")
    assert response.status_code == 409
    assert codes(response) == [("duplicate", None)]
    assert Customer.objects.count() == 1
    assert not Event.objects.filter(type="customer.created").exists()
