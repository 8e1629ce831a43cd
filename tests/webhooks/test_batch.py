"""Sending in batches: a worker claims due deliveries (a lease another worker respects, which
runs out if the worker dies), sends them over keep-alive connections, several at once, and
records every attempt in one transaction; per-customer order holds across batches."""

import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from config.fields import new_ulid
from config.webhooks import services, transport
from config.webhooks.models import DeliveryState, WebhookAttempt, WebhookDelivery
from config.webhooks.tasks import render_events
from tests.webhooks.helpers import an_event, endpoint_for, owed
from tests.webhooks.receiver import Answer, Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def keep_alive_receiver():
    with Receiver(keep_alive=True) as running:
        yield running


def send_due(now):
    return services.webhooks_send_due(render=render_events, seconds=30, now=now)


def test_a_claim_holds_its_deliveries_until_its_lease_runs_out(now):
    # given three deliveries owed
    endpoint, _ = endpoint_for("http://127.0.0.1:9/hooks")
    deliveries = [owed(endpoint, an_event(), now=now) for _ in range(3)]
    # when a worker claims two, the longest due first
    WebhookDelivery.objects.filter(pk=deliveries[2].pk).update(
        next_attempt_at=now - timedelta(seconds=1)
    )
    claim = services.webhook_deliveries_claim(now=now, limit=2)
    assert [d.id for d in claim.deliveries] == [deliveries[2].id, deliveries[0].id]
    # then another worker gets only the third
    other = services.webhook_deliveries_claim(now=now, limit=10)
    assert [d.id for d in other.deliveries] == [deliveries[1].id]
    assert services.webhook_deliveries_claim(now=now, limit=10).deliveries == []
    # and the first worker's two again once its lease has run out (it was killed)
    lease = services.claim_lease()
    almost = now + lease - timedelta(seconds=1)
    assert services.webhook_deliveries_claim(now=almost, limit=10).deliveries == []
    later = services.webhook_deliveries_claim(now=now + lease, limit=10)
    assert {d.id for d in later.deliveries} == {d.id for d in deliveries}


def test_a_batch_is_sent_signed_and_recorded_with_one_connection_per_lane(
    keep_alive_receiver, now, settings, django_assert_max_num_queries
):
    # given 30 deliveries owed to one endpoint, sent over one connection
    settings.WEBHOOK_SEND_THREADS = 1
    endpoint, secret = endpoint_for(keep_alive_receiver.url)
    deliveries = [owed(endpoint, an_event(), now=now) for _ in range(30)]
    # when a worker sends what is due: a few queries for the whole batch (claim, load, events,
    # record), savepoints and PostgreSQL's commit setting of a claim included, and two more
    # claims that find nothing left (one while the batch is in flight, one after its record)
    with django_assert_max_num_queries(21):
        result = send_due(now)
    # then every one arrived once, verifies, and went over a single kept-alive connection
    assert result == {"claimed": 30, "attempted": 30}
    received = keep_alive_receiver.received
    assert sorted(r.headers["webhook-id"] for r in received) == sorted(
        d.event_id for d in deliveries
    )
    for request in received:
        Webhook(secret).verify(request.body, request.headers)
    assert keep_alive_receiver.connections == 1
    # and each is recorded: delivered, its claim released, one attempt each
    assert set(WebhookDelivery.objects.values_list("state", "claim_token", "claimed_until")) == {
        (DeliveryState.SUCCEEDED, "", None)
    }
    assert WebhookAttempt.objects.filter(succeeded=True).count() == 30


def test_a_batch_sends_several_at_once_up_to_four_connections_per_endpoint(
    keep_alive_receiver, now, settings
):
    settings.WEBHOOK_SEND_THREADS = 8
    endpoint, _ = endpoint_for(keep_alive_receiver.url)
    for _ in range(20):
        owed(endpoint, an_event(), now=now)
    assert send_due(now)["attempted"] == 20
    assert len(keep_alive_receiver.received) == 20
    assert keep_alive_receiver.connections == services.LANES_PER_ENDPOINT


def test_a_kept_connection_the_receiver_dropped_is_replaced(keep_alive_receiver, now, settings):
    # given a receiver that closes the connection after its first answer, without saying so
    settings.WEBHOOK_SEND_THREADS = 1
    endpoint, _ = endpoint_for(keep_alive_receiver.url)
    for _ in range(3):
        owed(endpoint, an_event(), now=now)
    keep_alive_receiver.answer(Answer(status=204, body=b"", drop=True))
    # when the batch is sent
    assert send_due(now)["attempted"] == 3
    # then the second request went again on a new connection: each arrived once, all succeeded
    assert len(keep_alive_receiver.received) == 3
    assert keep_alive_receiver.connections == 2
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"succeeded"}


def test_one_customer_s_deliveries_go_in_event_order_across_batches(receiver, now, settings):
    # given three events of one customer and three of others, and batches of two sent in turn
    settings.WEBHOOK_BATCH_SIZE = 2
    settings.WEBHOOK_SEND_THREADS = 1
    endpoint, _ = endpoint_for(receiver.url)
    ada = new_ulid()
    ours = []
    for _ in range(3):
        ours.append(owed(endpoint, an_event(customer_id=ada), now=now))
        owed(endpoint, an_event(), now=now)
    # when a worker sends what is due (the first of ada's fails once)
    receiver.answer(Answer(status=500))
    send_due(now)
    # then ada's went out one at a time in event order, the next one only after the first
    # succeeded (its retry is not due yet: nothing of ada's went meanwhile)
    ada_ids = [d.event_id for d in ours]
    sent = [r.headers["webhook-id"] for r in receiver.received]
    assert [i for i in sent if i in ada_ids] == ada_ids[:1]
    assert len(sent) == 4
    first = WebhookDelivery.objects.get(pk=ours[0].pk)
    send_due(first.next_attempt_at)
    sent = [r.headers["webhook-id"] for r in receiver.received]
    assert [i for i in sent if i in ada_ids] == [ada_ids[0], *ada_ids]
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"succeeded"}


def test_a_claim_never_holds_two_deliveries_of_one_customer(now):
    endpoint, _ = endpoint_for("http://127.0.0.1:9/hooks")
    ada = new_ulid()
    first = owed(endpoint, an_event(customer_id=ada), now=now)
    owed(endpoint, an_event(customer_id=ada), now=now)
    claim = services.webhook_deliveries_claim(now=now, limit=10)
    assert [d.id for d in claim.deliveries] == [first.id]
    # the second waits behind the first while the first is held, too
    assert services.webhook_deliveries_claim(now=now, limit=10).deliveries == []


def test_deliveries_not_started_in_time_are_released_unsent(receiver, now):
    # given a claim whose time to start sending has passed (a batch held up)
    endpoint, _ = endpoint_for(receiver.url)
    for _ in range(3):
        owed(endpoint, an_event(), now=now)
    claim = services.webhook_deliveries_claim(now=now, limit=10)
    claim.start_by = time.monotonic() - 1
    # when it is sent and recorded
    sent = services.webhook_deliveries_send(claim=claim, render=render_events, now=now)
    services.webhook_deliveries_record(claim=claim, sent=sent, now=now)
    # then nothing went, nothing is logged, and the deliveries may be claimed again at once
    assert receiver.received == []
    assert WebhookAttempt.objects.count() == 0
    assert set(WebhookDelivery.objects.values_list("attempts", "claim_token")) == {(0, "")}
    assert len(services.webhook_deliveries_claim(now=now, limit=10).deliveries) == 3


def test_after_a_timeout_the_rest_of_the_lane_is_released_unsent(receiver, now, settings):
    # given three deliveries to a receiver that does not answer the first, sent in one lane
    settings.WEBHOOK_SEND_THREADS = 1
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    endpoint, _ = endpoint_for(receiver.url)
    first, *rest = [owed(endpoint, an_event(), now=now) for _ in range(3)]
    receiver.answer(Answer(hang=True))
    # when the batch is sent (with time left to start the others)
    claim = services.webhook_deliveries_claim(now=now, limit=10)
    claim.start_by = time.monotonic() + 60
    sent = services.webhook_deliveries_send(claim=claim, render=render_events, now=now)
    services.webhook_deliveries_record(claim=claim, sent=sent, now=now)
    # then the first has a failed attempt and waits for its retry; the others were not tried
    assert len(receiver.received) == 1
    first.refresh_from_db()
    assert (first.attempts, first.last_error) == (1, "No answer within 0.3 s.")
    for delivery in rest:
        delivery.refresh_from_db()
        assert (delivery.attempts, delivery.claim_token, delivery.state) == (0, "", "pending")
    assert WebhookAttempt.objects.count() == 1


def test_a_worker_whose_claim_ran_out_logs_its_attempt_but_leaves_the_delivery(receiver, now):
    # given a worker that claimed a delivery, and stalled until its lease ran out and another
    # worker claimed it
    endpoint, _ = endpoint_for(receiver.url)
    delivery = owed(endpoint, an_event(), now=now)
    slow = services.webhook_deliveries_claim(now=now, limit=1)
    later = now + services.claim_lease() + timedelta(seconds=1)
    other = services.webhook_deliveries_claim(now=later, limit=1)
    assert [d.id for d in other.deliveries] == [delivery.id]
    # when the stalled worker sends and records (its receiver fails it)
    receiver.answer(Answer(status=500))
    sent = services.webhook_deliveries_send(claim=slow, render=render_events, now=now)
    assert services.webhook_deliveries_record(claim=slow, sent=sent, now=now) == {}
    # then its attempt is logged, but the delivery is the other worker's: untouched
    delivery.refresh_from_db()
    assert WebhookAttempt.objects.get(delivery=delivery).status == 500
    assert (delivery.attempts, delivery.claim_token) == (0, other.token)
    # and the other worker records its success
    sent = services.webhook_deliveries_send(claim=other, render=render_events, now=later)
    states = services.webhook_deliveries_record(claim=other, sent=sent, now=later)
    assert states == {delivery.id: "succeeded"}


def test_a_worker_claims_the_next_batch_while_one_is_in_flight_and_keeps_customer_order(
    keep_alive_receiver, now, settings, monkeypatch
):
    # given two customers with three events each, among others, sent in batches of two
    settings.WEBHOOK_BATCH_SIZE = 2
    endpoint, _ = endpoint_for(keep_alive_receiver.url)
    customers = {new_ulid(): [], new_ulid(): []}
    for _ in range(3):
        for customer_id, theirs in customers.items():
            theirs.append(owed(endpoint, an_event(customer_id=customer_id), now=now).id)
        owed(endpoint, an_event(), now=now)
    steps = []
    claim, record = services.webhook_deliveries_claim, services.webhook_deliveries_record

    def claiming(**kwargs):
        found = claim(**kwargs)
        steps.append("claim")
        # no claim holds a delivery while an earlier one of its customer is still pending
        for delivery in found.deliveries:
            for theirs in customers.values():
                if delivery.id in theirs:
                    earlier = theirs[: theirs.index(delivery.id)]
                    assert not WebhookDelivery.objects.pending().filter(pk__in=earlier).exists()
        return found

    def recording(**kwargs):
        steps.append("record")
        return record(**kwargs)

    monkeypatch.setattr(services, "webhook_deliveries_claim", claiming)
    monkeypatch.setattr(services, "webhook_deliveries_record", recording)
    # when a worker sends what is due
    assert send_due(now) == {"claimed": 9, "attempted": 9}
    # then the second batch was claimed before the first was recorded (while in flight)
    assert steps[:3] == ["claim", "claim", "record"]
    # and each customer's deliveries arrived in event order, all of them
    ids = {d.id: d.event_id for d in WebhookDelivery.objects.all()}
    arrived = [r.headers["webhook-id"] for r in keep_alive_receiver.received]
    for theirs in customers.values():
        events = [ids[i] for i in theirs]
        assert [e for e in arrived if e in events] == events
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"succeeded"}


def test_batches_in_the_pipeline_when_the_worker_dies_are_sent_again(
    keep_alive_receiver, now, settings, monkeypatch
):
    # given four deliveries, batches of two, and a worker that dies recording its first batch
    # (the second one claimed and in flight)
    settings.WEBHOOK_BATCH_SIZE = 2
    endpoint, _ = endpoint_for(keep_alive_receiver.url)
    deliveries = [owed(endpoint, an_event(), now=now) for _ in range(4)]

    def dying(**kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(services, "webhook_deliveries_record", dying)
    with pytest.raises(RuntimeError):
        send_due(now)
    # then both batches went out but nothing is recorded: all four are still owed, held
    assert len(keep_alive_receiver.received) == 4
    assert WebhookAttempt.objects.count() == 0
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"pending"}
    assert "" not in set(WebhookDelivery.objects.values_list("claim_token", flat=True))
    # and once the claims have run out, another worker sends all four again and records them
    monkeypatch.undo()
    later = now + services.claim_lease()
    assert send_due(later) == {"claimed": 4, "attempted": 4}
    arrived = [r.headers["webhook-id"] for r in keep_alive_receiver.received]
    assert sorted(arrived) == sorted([d.event_id for d in deliveries] * 2)
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"succeeded"}


def test_the_claim_reads_its_rows_through_the_primary_key_however_many_deliveries_are_kept(
    now, settings
):
    """The delivery table keeps every delivery made; a claim that read all of it to find its
    hundred rows would slow down with the table's age. PostgreSQL only (its plans)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the plan is PostgreSQL's (set DATABASE_URL=postgres://…)")
    # given a few thousand delivered rows and some pending ones, with statistics
    endpoint, _ = endpoint_for("http://127.0.0.1:9/hooks")
    event = an_event()
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            endpoint=endpoint, event_id=new_ulid(), event_type=event.type,
            state=DeliveryState.SUCCEEDED if i >= 50 else DeliveryState.PENDING,
            customer_id=new_ulid(), next_attempt_at=now,
        )
        for i in range(3000)
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE webhooks_webhookdelivery")
    # when a claim runs
    with CaptureQueriesContext(connection) as queries:
        claim = services.webhook_deliveries_claim(now=now, limit=20)
    assert len(claim.deliveries) == 20
    [update] = [q["sql"] for q in queries.captured_queries if "RETURNING" in q["sql"]]
    # then its plan finds the rows by id, never scanning the table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {update}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "webhooks_webhookdelivery_pkey" in plan, plan
    assert "Seq Scan on webhooks_webhookdelivery" not in plan, plan


def test_a_claim_updates_its_rows_in_place_without_touching_an_index(now):
    """The deliveries' pages keep half their room (fillfactor 50) so a claim, which sets no
    indexed column, is mostly a HOT update: no entry in any of the table's indexes (full
    pages: a few of the hundred, the last page's). PostgreSQL only."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: HOT updates are PostgreSQL's (set DATABASE_URL=postgres://…)"
        )
    # given enough pending deliveries to fill several pages
    endpoint, _ = endpoint_for("http://127.0.0.1:9/hooks")
    event = an_event()
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            endpoint=endpoint, event_id=new_ulid(), event_type=event.type,
            customer_id=new_ulid(), next_attempt_at=now,
        )
        for _ in range(600)
    )  # fmt: skip

    def hot_updates() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_stat_get_xact_tuples_hot_updated('webhooks_webhookdelivery'::regclass)"
            )
            return cursor.fetchone()[0]

    before = hot_updates()
    # when a batch is claimed
    claim = services.webhook_deliveries_claim(now=now, limit=100)
    # then (nearly) every one of its rows was updated in place
    assert len(claim.deliveries) == 100
    assert hot_updates() - before >= 80


def test_a_send_job_checks_the_endpoint_s_address_again_for_every_batch(
    keep_alive_receiver, now, settings, monkeypatch
):
    # given two deliveries sent in two batches by one job, which keeps its connections
    settings.WEBHOOK_BATCH_SIZE = 1
    endpoint, _ = endpoint_for(keep_alive_receiver.url)
    for _ in range(2):
        owed(endpoint, an_event(), now=now)
    resolved = []
    real = transport.resolve
    monkeypatch.setattr(transport, "resolve", lambda url: resolved.append(url) or real(url))
    # when the job sends them
    assert send_due(now)["attempted"] == 2
    # then the URL was resolved and checked for each batch, over one kept connection
    assert resolved == [keep_alive_receiver.url] * 2
    assert keep_alive_receiver.connections == 1
