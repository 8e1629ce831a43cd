"""The fan-out reads the change feed from a stored position: each committed event becomes one
delivery per matching active endpoint, once; what is due may be sent, in per-customer
order. Transactional: on PostgreSQL the feed serves only committed transactions."""

from datetime import timedelta

import pytest
from django.utils import timezone

from config.events.services import EventDraft
from config.fields import new_ulid
from config.webhooks import services
from config.webhooks.models import WebhookCursor, WebhookDelivery
from tests.events.conftest import commit_events
from tests.webhooks.helpers import endpoint_for, send
from tests.webhooks.receiver import Answer

pytestmark = pytest.mark.django_db(transaction=True)
URL = "http://127.0.0.1:9/hooks"


def pairs() -> set[tuple[str, str]]:
    return set(WebhookDelivery.objects.values_list("endpoint_id", "event_type"))


def test_each_event_goes_to_the_endpoints_whose_filter_matches_it():
    # given three endpoints: an exact type, a wildcard, everything
    exact, _ = endpoint_for(URL, ["tag.created"])
    wildcard, _ = endpoint_for(URL, ["customer.*"])
    everything, _ = endpoint_for(URL, ["*"])
    commit_events(
        EventDraft(type="tag.created"),
        EventDraft(type="customer.created", customer_id=new_ulid()),
        EventDraft(type="segment.deleted"),
    )
    # when the fan-out runs
    assert services.webhooks_fan_out() == 5
    # then each endpoint owes exactly the events its filter names
    assert pairs() == {
        (exact.id, "tag.created"),
        (wildcard.id, "customer.created"),
        (everything.id, "tag.created"),
        (everything.id, "customer.created"),
        (everything.id, "segment.deleted"),
    }


def test_the_fan_out_runs_once_per_event_whatever_runs_it_again():
    endpoint_for(URL)
    commit_events(EventDraft(type="tag.created"), EventDraft(type="tag.updated"))
    assert services.webhooks_fan_out() == 2
    # run again: nothing new
    assert services.webhooks_fan_out() == 0
    # a later event: only it
    commit_events(EventDraft(type="tag.deleted"))
    assert services.webhooks_fan_out() == 1
    assert WebhookDelivery.objects.count() == 3
    cursor = WebhookCursor.objects.get()
    last = WebhookDelivery.objects.order_by("event_txid", "event_id").last()
    assert (cursor.txid, cursor.event_id) == (last.event_txid, last.event_id)
    # the position moved even if the rows were already there (unique (endpoint, event))
    WebhookCursor.objects.update(txid=0, event_id=None)
    assert services.webhooks_fan_out() == 3
    assert WebhookDelivery.objects.count() == 3


def test_small_batches_miss_no_event():
    endpoint_for(URL)
    commit_events(*(EventDraft(type="tag.created") for _ in range(7)))
    services.webhooks_fan_out(batch_size=2)
    assert WebhookDelivery.objects.count() == 7


def test_disabled_endpoints_and_events_from_before_an_endpoint_get_nothing():
    commit_events(EventDraft(type="tag.created"))
    endpoint, _ = endpoint_for(URL)
    off, _ = endpoint_for(URL)
    services.webhook_endpoint_update(endpoint=off, data={"is_active": False})
    commit_events(EventDraft(type="tag.updated"))
    services.webhooks_fan_out()
    assert pairs() == {(endpoint.id, "tag.updated")}


def test_the_dispatch_asks_for_one_send_job_per_batch_of_sendable_deliveries(settings):
    # given five deliveries owed now, and batches of two
    settings.WEBHOOK_BATCH_SIZE = 2
    endpoint_for(URL)
    commit_events(*(EventDraft(type="tag.created") for _ in range(5)))
    services.webhooks_fan_out()
    now = timezone.now()
    # then three send jobs are wanted, at most ``limit``
    assert services.webhooks_senders_wanted(now=now, limit=10) == 3
    assert services.webhooks_senders_wanted(now=now, limit=2) == 2
    # none once they are not due yet
    WebhookDelivery.objects.update(next_attempt_at=now + timedelta(seconds=5))
    assert services.webhooks_senders_wanted(now=now, limit=10) == 0


def test_a_later_event_for_a_customer_waits_while_an_earlier_one_is_retrying(receiver):
    # given two events for one customer and one for another
    endpoint_for(receiver.url, ["customer.*"])
    ada, bob = new_ulid(), new_ulid()
    commit_events(
        EventDraft(type="customer.created", customer_id=ada),
        EventDraft(type="customer.updated", customer_id=ada),
        EventDraft(type="customer.created", customer_id=bob),
    )
    services.webhooks_fan_out()
    first, second, other = WebhookDelivery.objects.order_by("event_txid", "event_id")
    assert (first.customer_id, second.customer_id, other.customer_id) == (ada, ada, bob)
    now = timezone.now()

    def sendable(at) -> set[str]:
        return set(services.deliveries_sendable(now=at).values_list("id", flat=True))

    # then only the first of each customer may be sent
    assert sendable(now) == {first.id, other.id}
    # when the first fails, the second still waits, and is not sent even if asked directly
    receiver.answer(Answer(status=500))
    assert send(first, now=now).state == "pending"
    assert send(second, now=now).state is None
    assert sendable(now + timedelta(seconds=1)) == {other.id}
    # once the first goes through, the second may go
    first.refresh_from_db()
    assert send(first, now=first.next_attempt_at).state == "succeeded"
    assert second.id in sendable(first.next_attempt_at)
    assert send(second, now=first.next_attempt_at).state == "succeeded"
    paths = [r.headers["webhook-id"] for r in receiver.received]
    assert paths == [first.event_id, first.event_id, second.event_id]


def test_one_dispatch_chain_at_a_time():
    endpoint_for(URL)
    now = timezone.now()
    # the periodic run starts a chain when none runs
    token = services.webhooks_chain_turn(token="", now=now)
    assert token
    # a second periodic run while the chain is on time: no second chain
    assert services.webhooks_chain_turn(token="", now=now + timedelta(seconds=30)) is None
    # the chain's own run goes on, with a new turn; an old turn stops
    following = services.webhooks_chain_turn(token=token, now=now + timedelta(seconds=1))
    assert following not in {None, token}
    assert services.webhooks_chain_turn(token=token, now=now + timedelta(seconds=2)) is None
    # a chain whose next run never came (lost message) is restarted by the periodic run
    assert services.webhooks_chain_turn(token="", now=now + timedelta(minutes=5))


def test_the_chain_stops_while_no_endpoint_is_active():
    assert services.webhooks_chain_turn(token="") is None
    endpoint, _ = endpoint_for(URL)
    token = services.webhooks_chain_turn(token="")
    assert token
    services.webhook_endpoint_update(endpoint=endpoint, data={"is_active": False})
    assert services.webhooks_chain_turn(token=token) is None
