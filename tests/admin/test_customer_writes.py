"""The customer admin writes through customers.services: history with who and why, the
service's refusals on the form, and "Delete selected" one customer at a time."""

import pytest

from customers.models import Customer
from tests.admin.pages import (
    bulk_delete,
    deletions_logged,
    form_errors,
    messages_of,
    posted_back,
    url_of,
)
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
EMPTY = {"name": "", "email": "", "mobile": "", "reference_id": "", "metadata": "{}"}


def test_adding_a_customer_goes_through_the_service_with_the_admin_reason(boss):
    response = boss.post(
        url_of(Customer, "add"), {**EMPTY, "name": "Ada", "mobile": "+593 991234567"}
    )
    assert response.status_code == 302
    customer = Customer.objects.get()
    assert (customer.name, customer.mobile) == ("Ada", "593991234567")
    created = customer.history.get()
    assert (created.history_type, created.history_user, created.history_change_reason) == (
        "+",
        boss.user,
        "Created in the admin",
    )


def test_changing_a_customer_records_the_admin_reason(boss):
    customer = CustomerFactory(name="Ada")
    page = boss.get(url_of(Customer, customer.pk, "change"))
    assert boss.post(page.request["PATH_INFO"], posted_back(page, name="Ada L.")).status_code == 302
    changed = customer.history.latest("history_id")
    assert (changed.name, changed.history_user, changed.history_change_reason) == (
        "Ada L.",
        boss.user,
        "Changed in the admin",
    )


def test_a_customer_the_service_refuses_is_a_form_error_and_nothing_is_saved(boss):
    # given a form the ModelForm accepts but the service refuses (no identity at all)
    response = boss.post(url_of(Customer, "add"), EMPTY)

    assert form_errors(response) == {
        "name": ["A customer needs at least one of name, email, mobile or reference_id."]
    }
    assert not Customer.objects.exists()
    assert not Customer.history.exists()


def test_deleting_a_customer_goes_through_the_service(boss):
    customer = CustomerFactory()
    response = boss.post(url_of(Customer, customer.pk, "delete"), {"post": "yes"})
    assert response.status_code == 302
    assert not Customer.objects.exists()
    deleted = Customer.history.get(id=customer.pk, history_type="-")
    assert (deleted.history_user, deleted.history_change_reason) == (
        boss.user,
        "Deleted in the admin",
    )
    assert deletions_logged(Customer) == {customer.pk}


def test_delete_selected_deletes_each_customer_through_the_service(boss):
    customers = CustomerFactory.create_batch(2)
    kept = CustomerFactory()

    response = bulk_delete(boss, Customer, customers)

    assert response.status_code == 302
    assert list(Customer.objects.all()) == [kept]
    deleted = Customer.history.filter(history_type="-")
    assert {(d.id, d.history_user, d.history_change_reason) for d in deleted} == {
        (c.pk, boss.user, "Deleted in the admin") for c in customers
    }
    assert deletions_logged(Customer) == {c.pk for c in customers}
    assert messages_of(response) == [("success", "Successfully deleted 2 customers.")]
