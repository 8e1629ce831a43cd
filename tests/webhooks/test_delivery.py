"""Sending one delivery to a receiver on 127.0.0.1: signatures a Standard Webhooks receiver
verifies, the retry schedule on a clock the test moves, and what each kind of answer does."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from config.webhooks import services
from config.webhooks.models import DeliveryState, WebhookAttempt, WebhookEndpoint
from tests.conftest import make_client
from tests.webhooks.helpers import an_event, endpoint_for, owed, send
from tests.webhooks.receiver import Answer

pytestmark = pytest.mark.django_db


@pytest.fixture
def now():
    return timezone.now()


def test_a_delivery_is_signed_and_carries_the_event_as_the_feed_renders_it(receiver, now):
    # given an endpoint and an event owed to it
    endpoint, secret = endpoint_for(receiver.url)
    event = an_event()
    delivery = owed(endpoint, event, now=now)
    # when it is sent
    result = send(delivery, now=now)
    # then the receiver verifies it with the standardwebhooks library, as an integrator would
    assert result.state == DeliveryState.SUCCEEDED
    [request] = receiver.received
    body = Webhook(secret).verify(request.body, request.headers)
    assert request.headers["webhook-id"] == event.id
    assert request.headers["content-type"] == "application/json"
    feed = make_client("events.view_event").get(f"/api/v1/events/{event.id}").json()["event"]
    assert body == {"type": "customer.updated", "timestamp": feed["occurred_at"], "data": feed}
    # and the attempt is logged
    delivery.refresh_from_db()
    assert delivery.delivered_at == now
    [attempt] = WebhookAttempt.objects.filter(delivery=delivery)
    assert (attempt.status, attempt.succeeded, attempt.response_excerpt) == (200, True, "ok")


def test_a_signature_with_another_secret_does_not_verify(receiver, now):
    endpoint, _ = endpoint_for(receiver.url)
    send(owed(endpoint, an_event(), now=now), now=now)
    [request] = receiver.received
    with pytest.raises(WebhookVerificationError):
        Webhook(services.new_secret()).verify(request.body, request.headers)


def test_a_failure_is_retried_on_the_schedule_with_the_same_webhook_id(receiver, now):
    # given a receiver that fails once
    endpoint, secret = endpoint_for(receiver.url)
    delivery = owed(endpoint, an_event(), now=now)
    receiver.answer(Answer(status=500, body=b"boom"))
    # when the delivery is sent
    result = send(delivery, now=now)
    # then it waits about 5 s (the schedule's first step, ±10 %)
    delivery.refresh_from_db()
    assert (result.state, delivery.attempts, delivery.last_status) == ("pending", 1, 500)
    wait = delivery.next_attempt_at - now
    assert timedelta(seconds=4.5) <= wait <= timedelta(seconds=5.5)
    # and is not sent before then
    assert send(delivery, now=now + timedelta(seconds=4)).state is None
    assert len(receiver.received) == 1
    # when the clock passes it, it goes again, with the same webhook-id, and succeeds
    assert send(delivery, now=now + timedelta(seconds=6)).state == "succeeded"
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.event_id
    Webhook(secret).verify(second.body, second.headers)
    assert [a.status for a in WebhookAttempt.objects.filter(delivery=delivery)] == [500, 200]
    assert WebhookAttempt.objects.filter(delivery=delivery).first().response_excerpt == "boom"


def test_each_wait_follows_the_spec_schedule_and_the_tenth_failure_is_final(receiver, now):
    endpoint, _ = endpoint_for(receiver.url)
    delivery = owed(endpoint, an_event(), now=now)
    receiver.default = Answer(status=502)
    clock = now
    waits = []
    for _ in range(9):
        assert send(delivery, now=clock).state == "pending"
        delivery.refresh_from_db()
        waits.append(delivery.next_attempt_at - clock)
        clock = delivery.next_attempt_at
    for wait, step in zip(waits, services.RETRY_SCHEDULE, strict=True):
        assert step * 0.9 <= wait <= step * 1.1
    # the tenth attempt fails for good
    assert send(delivery, now=clock).state == "failed"
    assert len(receiver.received) == 10


def test_only_2xx_is_success(receiver, now):
    endpoint, _ = endpoint_for(receiver.url)
    receiver.answer(Answer(status=204, body=b""), Answer(status=299), Answer(status=400))
    assert send(owed(endpoint, an_event(), now=now), now=now).state == "succeeded"
    assert send(owed(endpoint, an_event(), now=now), now=now).state == "succeeded"
    assert send(owed(endpoint, an_event(), now=now), now=now).state == "pending"


def test_a_redirect_is_a_failure_and_is_not_followed(receiver, now):
    endpoint, _ = endpoint_for(receiver.url)
    delivery = owed(endpoint, an_event(), now=now)
    receiver.answer(Answer(status=302, headers={"Location": receiver.url + "/elsewhere"}))
    assert send(delivery, now=now).state == "pending"
    assert [r.path for r in receiver.received] == ["/hooks"]
    delivery.refresh_from_db()
    assert delivery.last_status == 302
    assert "Redirects are not followed" in delivery.last_error


def test_no_answer_within_the_timeout_is_a_failure(receiver, now, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    endpoint, _ = endpoint_for(receiver.url)
    delivery = owed(endpoint, an_event(), now=now)
    receiver.answer(Answer(hang=True))
    assert send(delivery, now=now).state == "pending"
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.status is None
    assert attempt.error == "No answer within 0.3 s."


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_on_429_and_503_sets_the_next_attempt(receiver, now, status):
    endpoint, _ = endpoint_for(receiver.url)
    delivery = owed(endpoint, an_event(), now=now)
    receiver.answer(Answer(status=status, headers={"Retry-After": "120"}))
    send(delivery, now=now)
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == now + timedelta(seconds=120)


def test_a_retry_after_beyond_any_date_waits_the_longest_retry_after(receiver, now):
    endpoint, _ = endpoint_for(receiver.url)
    delivery = owed(endpoint, an_event(), now=now)
    receiver.answer(Answer(status=503, headers={"Retry-After": "9" * 30}))
    send(delivery, now=now)
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == now + services.RETRY_AFTER_MAX


def test_retry_after_on_a_500_is_ignored(receiver, now):
    endpoint, _ = endpoint_for(receiver.url)
    delivery = owed(endpoint, an_event(), now=now)
    receiver.answer(Answer(status=500, headers={"Retry-After": "120"}))
    send(delivery, now=now)
    delivery.refresh_from_db()
    assert delivery.next_attempt_at - now < timedelta(seconds=6)


def test_410_gone_disables_the_endpoint_and_fails_the_delivery(receiver, now):
    endpoint, _ = endpoint_for(receiver.url)
    first = owed(endpoint, an_event(), now=now)
    second = owed(endpoint, an_event(), now=now)
    receiver.answer(Answer(status=410))
    assert send(first, now=now).state == "failed"
    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.disabled_reason) == (
        False,
        "The endpoint answered 410 Gone.",
    )
    assert endpoint.disabled_at == now
    # nothing more goes to it; the other delivery waits for it to be turned on again
    assert send(second, now=now).state is None
    assert len(receiver.received) == 1
    services.webhook_endpoint_update(endpoint=endpoint, data={"is_active": True})
    assert send(second, now=now).state == "succeeded"


def test_an_endpoint_failing_for_five_days_is_disabled_with_a_notice(receiver, now):
    endpoint, _ = endpoint_for(receiver.url)
    receiver.default = Answer(status=500)
    send(owed(endpoint, an_event(), now=now), now=now)
    endpoint.refresh_from_db()
    assert endpoint.failing_since == now
    # still failing just under five days later: still on
    send(owed(endpoint, an_event(), now=now), now=now + timedelta(days=5, seconds=-1))
    endpoint.refresh_from_db()
    assert endpoint.is_active
    # five days: off, with the reason
    send(owed(endpoint, an_event(), now=now), now=now + timedelta(days=5))
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert endpoint.disabled_reason == "No delivery succeeded for 5 days."


def test_a_success_resets_the_failing_clock(receiver, now):
    endpoint, _ = endpoint_for(receiver.url)
    receiver.answer(Answer(status=500))
    send(owed(endpoint, an_event(), now=now), now=now)
    send(owed(endpoint, an_event(), now=now), now=now + timedelta(days=4))
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None
    receiver.answer(Answer(status=500))
    send(owed(endpoint, an_event(), now=now), now=now + timedelta(days=6))
    endpoint.refresh_from_db()
    assert endpoint.is_active
    assert endpoint.failing_since == now + timedelta(days=6)


def test_after_a_rotation_both_secrets_verify_for_24_hours(receiver, now):
    # given an endpoint whose secret was rotated
    endpoint, old = endpoint_for(receiver.url)
    new = services.webhook_endpoint_rotate_secret(endpoint=endpoint, now=now)
    assert new != old
    assert new.startswith("whsec_")
    # when a delivery goes out within 24 hours
    send(owed(endpoint, an_event(), now=now), now=now + timedelta(hours=23))
    # then it carries two signatures, one per secret
    request = receiver.received[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(request.body, request.headers)
    Webhook(new).verify(request.body, request.headers)
    # after 24 hours, only the new one
    send(owed(endpoint, an_event(), now=now), now=now + timedelta(hours=24, seconds=1))
    request = receiver.received[-1]
    Webhook(new).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(request.body, request.headers)


def test_an_event_gone_from_the_log_fails_its_delivery(receiver, now):
    endpoint, _ = endpoint_for(receiver.url)
    delivery = owed(endpoint, an_event(), now=now)
    type(delivery).objects.filter(pk=delivery.pk).update(event_id="01" + "0" * 24)
    assert send(delivery, now=now).state == "failed"
    assert receiver.received == []


def test_a_test_event_is_signed_and_delivered(receiver, now):
    endpoint, secret = endpoint_for(receiver.url)
    delivery = services.webhook_endpoint_send_test(endpoint=endpoint, now=now)
    assert send(delivery, now=now).state == "succeeded"
    [request] = receiver.received
    body = Webhook(secret).verify(request.body, request.headers)
    assert body["type"] == "webhook.test"
    assert body["data"]["id"] == request.headers["webhook-id"] == delivery.event_id


def test_a_disabled_endpoint_gets_no_test_event(receiver):
    endpoint, _ = endpoint_for(receiver.url)
    services.webhook_endpoint_update(endpoint=endpoint, data={"is_active": False})
    with pytest.raises(services.InvalidInput, match="disabled"):
        services.webhook_endpoint_send_test(endpoint=endpoint)


def test_a_body_over_20_kb_leaves_the_event_data_out(receiver, now):
    endpoint, secret = endpoint_for(receiver.url)
    event = an_event()
    type(event).objects.filter(pk=event.pk)  # events are append-only: write a big one instead
    from django.db import transaction

    from config.events.services import event_record

    with transaction.atomic():
        big = event_record(type="tag.updated", data={"blob": "x" * 30_000})
    send(owed(endpoint, big, now=now), now=now)
    [request] = receiver.received
    assert len(request.body) < 20 * 1024
    body = json.loads(request.body)
    assert body["data_truncated"] is True
    assert body["data"]["id"] == big.id
    assert body["data"]["data"] is None
    Webhook(secret).verify(request.body, request.headers)
    assert WebhookEndpoint.objects.count() == 1


def test_an_answer_with_a_nul_byte_is_logged_with_it_replaced(receiver, now):
    # given a receiver whose answer's body holds a NUL byte (PostgreSQL text cannot)
    endpoint, _ = endpoint_for(receiver.url)
    delivery = owed(endpoint, an_event(), now=now)
    receiver.answer(Answer(status=200, body=b"ok\x00done"))
    # when it is sent, then the attempt is recorded, the NUL shown as a replacement character
    assert send(delivery, now=now).state == "succeeded"
    assert WebhookAttempt.objects.get(delivery=delivery).response_excerpt == "ok\ufffddone"
