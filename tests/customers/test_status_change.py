"""customers.services.customer_status_change, called as the admin and the commands call it:
the checks it makes itself, before and inside its transaction."""

import pytest
from django.contrib.auth.models import AnonymousUser

from config.events.models import Event
from config.exceptions import InvalidInput, NotFound
from customers.models import Customer
from customers.services import customer_status_change
from statuses.models import StatusChange, StatusLabel
from statuses.services import label_save
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db


def change(customer, **kwargs):
    arguments = {"label": "Suspended", "reason": "chargeback", "source": "ADMIN", "actor": None}
    return customer_status_change(customer=customer, **{**arguments, **kwargs})


def unchanged(customer) -> bool:
    customer.refresh_from_db()
    return (
        customer.status_label.name == "Active"
        and not StatusChange.objects.exists()
        and customer.history.count() == 1
    )


@pytest.mark.parametrize(
    ("reason", "code"), [("", "required"), ("   ", "required"), ("r" * 256, "max_length")]
)
def test_the_reason_is_required_and_bounded(reason, code):
    customer = CustomerFactory()
    with pytest.raises(InvalidInput) as refused:
        change(customer, reason=reason)
    assert (refused.value.code, refused.value.attr) == (code, "reason")
    assert unchanged(customer)


def test_a_reason_of_255_characters_after_trimming_is_kept_trimmed():
    customer = CustomerFactory()
    result = change(customer, reason=f"  {'r' * 255}  ")
    assert result.change.reason == "r" * 255


def test_a_label_is_found_by_name_in_any_case_and_spacing():
    # given a label whose name has two words
    label_save(
        label=None,
        data={"name": "High Value", "status": StatusLabel.objects.get(name="Active").status},
        actor=None,
    )
    customer = CustomerFactory()
    # when it is named loosely
    result = change(customer, label="  high   VALUE ")
    # then the customer has it, and the change says from where to where, by whom and why
    customer.refresh_from_db()
    assert customer.status_label.name == "High Value"
    assert (result.change.from_label.name, result.change.to_label.name) == ("Active", "High Value")
    assert (result.change.source, result.change.reason, result.warnings) == (
        "ADMIN",
        "chargeback",
        [],
    )


def test_an_unknown_label_name_is_invalid_label():
    customer = CustomerFactory()
    with pytest.raises(InvalidInput) as refused:
        change(customer, label="Platinum")
    assert (refused.value.code, refused.value.attr, str(refused.value)) == (
        "invalid_label",
        "label",
        "No status label named 'Platinum'.",
    )
    assert unchanged(customer)


def test_a_label_deleted_after_it_was_chosen_is_invalid_label():
    # given a label chosen (an admin form's choice) and deleted before the change runs
    label_save(
        label=None,
        data={"name": "Gold", "status": StatusLabel.objects.get(name="Active").status},
        actor=None,
    )
    gold = StatusLabel.objects.get(name="Gold")
    StatusLabel.objects.filter(pk=gold.pk).delete()
    customer = CustomerFactory()
    # when the change runs, it refuses before writing anything
    with pytest.raises(InvalidInput) as refused:
        change(customer, label=gold)
    assert (refused.value.code, refused.value.attr, str(refused.value)) == (
        "invalid_label",
        "label",
        "No status label named 'Gold'.",
    )
    assert unchanged(customer)


def test_a_customer_deleted_meanwhile_is_not_found():
    customer = CustomerFactory()
    Customer.objects.filter(pk=customer.pk).delete()
    with pytest.raises(NotFound) as refused:
        change(customer)
    assert (str(refused.value), refused.value.code) == (
        "The customer was deleted meanwhile.", "not_found",
    )  # fmt: skip
    assert not StatusChange.objects.exists()


def test_the_customer_history_keeps_who_and_why_and_the_same_label_writes_nothing():
    # given a customer moved once by a clerk
    clerk = UserFactory(username="clerk")
    customer = CustomerFactory()
    change(customer, actor=clerk)
    latest = customer.history.latest("history_id")
    assert (latest.history_user, latest.history_change_reason) == (clerk, "chargeback")
    assert customer.status_label.name == "Suspended"  # the caller's object follows
    # when the same label is set again
    again = change(customer, actor=clerk, reason="twice")
    # then nothing is recorded, and the warning says so
    assert again.change is None
    assert again.warnings == ["The customer already has the label 'Suspended'; nothing changed."]
    assert customer.history.count() == 2
    assert StatusChange.objects.count() == 1


@pytest.mark.parametrize(
    ("reason", "message"),
    [("  ", "A reason is required."), ("r" * 256, "At most 255 characters.")],
)
def test_a_refused_reason_says_why(reason, message):
    with pytest.raises(InvalidInput) as refused:
        change(CustomerFactory(), reason=reason)
    assert str(refused.value) == message


def test_an_anonymous_actor_is_recorded_as_nobody_and_the_event_has_the_change_time():
    customer = CustomerFactory()
    result = change(customer, actor=AnonymousUser())
    assert result.change.created_by is None
    event = Event.objects.get(type="customer.status_changed")
    assert event.occurred_at == result.change.created_at


def test_a_status_change_costs_a_fixed_number_of_queries(django_assert_max_num_queries):
    customer = CustomerFactory()
    label_of = StatusLabel.objects.get(name="Suspended")
    with django_assert_max_num_queries(12):
        change(customer, label=label_of)
