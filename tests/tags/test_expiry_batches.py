"""expire_tags batch by batch: whole customers per batch (one event each, whatever the order
the rows were written in), the batches really bounded, and the events dated by the run's clock."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.events.models import Event
from tags.models import TagAssignment
from tags.services import tags_expire
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory

pytestmark = pytest.mark.django_db


def expired_for(customers_in_order: list, past) -> None:
    """One expired assignment per entry, in this order (so in this primary-key order), each
    customer a tag of its own per entry."""
    for customer in customers_in_order:
        TagAssignmentFactory(customer=customer, tag=TagFactory(), expires_at=past)


def removed_per_customer() -> dict[str, list[int]]:
    """customer id → how many tags each of its events removed, in feed order."""
    found: dict[str, list[int]] = {}
    for event in Event.objects.in_feed_order().filter(type="customer.tags_changed"):
        found.setdefault(event.customer_id, []).append(len(event.data["removed"]))
    return found


def deletes(queries) -> int:
    table = TagAssignment._meta.db_table
    return sum(1 for q in queries if q["sql"].startswith(f'DELETE FROM "{table}"'))


def test_rows_written_interleaved_still_go_a_whole_customer_per_batch():
    # given a and b's expired assignments written alternately: a, b, a, b (by primary key)
    past = timezone.now() - timedelta(hours=1)
    a, b = sorted(CustomerFactory.create_batch(2), key=lambda c: c.pk)
    expired_for([a, b, a, b], past)
    # when they expire two at a time
    with CaptureQueriesContext(connection) as queries:
        assert tags_expire(batch_size=2) == 4
    # then two batches, one per customer: one event each, with both of its tags
    assert deletes(queries) == 2
    assert removed_per_customer() == {a.pk: [2], b.pk: [2]}
    assert not TagAssignment.objects.exists()


def test_a_full_batch_ending_in_a_customer_with_more_rows_leaves_that_customer_whole():
    # given a with one expired assignment and b with three
    past = timezone.now() - timedelta(hours=1)
    a, b = sorted(CustomerFactory.create_batch(2), key=lambda c: c.pk)
    expired_for([a, b, b, b], past)
    # when they expire three at a time (a, b, b would split b over two batches)
    with CaptureQueriesContext(connection) as queries:
        assert tags_expire(batch_size=3) == 4
    # then a goes alone, b whole in the next batch
    assert deletes(queries) == 2
    assert removed_per_customer() == {a.pk: [1], b.pk: [3]}


def test_batches_hold_at_most_batch_size_rows():
    past = timezone.now() - timedelta(hours=1)
    customers = sorted(CustomerFactory.create_batch(5), key=lambda c: c.pk)
    expired_for(customers, past)
    with CaptureQueriesContext(connection) as queries:
        assert tags_expire(batch_size=2) == 5
    # each full batch of two customers hands its last one to the next: one row per batch
    assert deletes(queries) == 5
    assert removed_per_customer() == {c.pk: [1] for c in customers}


def test_the_events_carry_the_runs_clock():
    now = timezone.now()
    TagAssignmentFactory(expires_at=now - timedelta(minutes=2))
    run_at = now - timedelta(minutes=1)
    assert tags_expire(now=run_at) == 1
    (event,) = Event.objects.filter(type="customer.tags_changed")
    assert event.occurred_at == run_at
