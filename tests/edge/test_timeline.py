"""The customer timeline (config.edge.timeline), read directly: the entries the history page shows."""

from datetime import UTC, datetime

import pytest

from config.edge.timeline import customer_history_page
from customers import services as customer_services
from statuses.models import StatusLabel
from tags import services as tag_services
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_page_of_tag_entries_leaves_the_customer_record_to_a_later_page():
    # given a customer whose three newest entries are tags
    customer = customer_services.customer_create(data={"name": "Ada"}, actor=None, reason="new")
    tag_services.customers_retag(
        batches=[[customer.pk]],
        change=tag_services.TagChange(add=["a", "b", "c"], reason="campaign"),
        actor=None,
    )
    # when the first page holds two entries
    page, entries = customer_history_page(customer_id=customer.pk, page_number=1, per_page=2)
    # then both are tags, and the customer's own record waits for a later page
    assert page.paginator.count == 4
    assert [(e["type"], e["reason"], e["changes"]) for e in entries] == [
        ("tag added", "campaign", {}),
        ("tag added", "campaign", {}),
    ]
    _, last = customer_history_page(customer_id=customer.pk, page_number=2, per_page=2)
    assert [e["type"] for e in last] == ["tag added", "created"]
    assert last[1]["changes"] == {"name": [None, "Ada"], "status_label": [None, "Active"]}


def test_a_status_change_effective_earlier_says_when():
    # given a change recorded now that took effect on 2 January 2024
    user = UserFactory(username="clerk")
    customer = customer_services.customer_create(data={"name": "Ada"}, actor=None)
    customer_services.customer_status_change(
        customer=customer,
        label=StatusLabel.objects.get(name="Suspended"),
        reason="chargeback",
        source="INSTORE",
        actor=user,
        effective_at=datetime(2024, 1, 2, 3, 4, tzinfo=UTC),
    )
    # when the timeline is read
    _, entries = customer_history_page(customer_id=customer.pk, page_number=None)
    # then the status entry names both labels, the source and the effective date
    (status,) = [e for e in entries if e["type"] == "status changed"]
    assert status["detail"] == (
        "Active → Suspended (Suspended), source INSTORE, effective 2024-01-02 03:04 UTC"
    )
    assert (status["by"], status["reason"], status["changes"]) == ("clerk", "chargeback", {})
