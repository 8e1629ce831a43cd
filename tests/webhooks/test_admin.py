"""The webhooks in the admin: writes through the services, the secret shown once, the success
rate and the notice of a disabled endpoint, the delivery log, test events and replays."""

from datetime import timedelta

import pytest
from django.utils import timezone

from config.webhooks.models import DeliveryState, WebhookDelivery, WebhookEndpoint
from tests.admin.pages import form_errors, messages_of, posted_back, signed_in, url_of
from tests.webhooks.helpers import an_event, endpoint_for, owed, send
from tests.webhooks.receiver import Answer

pytestmark = pytest.mark.django_db


@pytest.fixture
def boss():
    return signed_in(is_staff=True, is_superuser=True)


def test_an_endpoint_added_in_the_admin_shows_its_secret_once(boss):
    page = boss.get(url_of(WebhookEndpoint, "add"))
    response = boss.post(
        url_of(WebhookEndpoint, "add"),
        posted_back(page, url="http://127.0.0.1:9/in", types=["customer.*"], is_active="on"),
        follow=True,
    )
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.url, endpoint.types, endpoint.created_by) == (
        "http://127.0.0.1:9/in",
        ["customer.*"],
        boss.user,
    )
    shown = [text for level, text in messages_of(response) if level == "warning"]
    assert shown == [f"Copy the signing secret now, it will not be shown again: {endpoint.secret}"]
    # the change page does not show it
    assert (
        endpoint.secret
        not in boss.get(url_of(WebhookEndpoint, endpoint.pk, "change")).content.decode()
    )


def test_the_admin_refuses_a_private_destination_on_its_field(boss, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    page = boss.get(url_of(WebhookEndpoint, "add"))
    response = boss.post(
        url_of(WebhookEndpoint, "add"),
        posted_back(page, url="http://127.0.0.1:9/in", types=["*"], is_active="on"),
    )
    assert "loopback" in form_errors(response)["url"][0]
    assert not WebhookEndpoint.objects.exists()


def test_the_list_shows_the_success_rate_and_why_an_endpoint_is_off(boss, receiver):
    # given an endpoint with one success and one failure, and one that answered 410
    working, _ = endpoint_for(receiver.url)
    gone, _ = endpoint_for(receiver.url + "/gone")
    now = timezone.now()
    receiver.answer(Answer(status=200), Answer(status=500), Answer(status=410))
    send(owed(working, an_event(), now=now), now=now)
    send(owed(working, an_event(), now=now), now=now)
    send(owed(gone, an_event(), now=now), now=now)
    # when the list is shown
    response = boss.get(url_of(WebhookEndpoint))
    page = response.content.decode()
    # then the rate and the notice are there
    assert "50.0 % of 2 attempts" in page
    assert "The endpoint answered 410 Gone." in page
    warnings = [text for level, text in messages_of(response) if level == "warning"]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{gone.url} was turned off on ")


def test_send_a_test_event_from_the_list(boss, receiver):
    endpoint, _ = endpoint_for(receiver.url)
    boss.post(
        url_of(WebhookEndpoint), {"action": "send_test_event", "_selected_action": [endpoint.pk]}
    )
    delivery = WebhookDelivery.objects.get()
    assert (delivery.endpoint, delivery.event_type, delivery.state) == (
        endpoint,
        "webhook.test",
        "pending",
    )


def test_replay_failed_deliveries_since_a_time(boss):
    # given failed deliveries from before and after a moment, and one delivered
    endpoint, _ = endpoint_for("http://127.0.0.1:9/")
    now = timezone.now()
    old, recent, delivered = (owed(endpoint, an_event(), now=now) for _ in range(3))
    WebhookDelivery.objects.filter(pk__in=[old.pk, recent.pk]).update(
        state=DeliveryState.FAILED, attempts=10
    )
    WebhookDelivery.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=2))
    WebhookDelivery.objects.filter(pk=delivered.pk).update(state=DeliveryState.SUCCEEDED)
    since = now - timedelta(days=1)
    # when "replay failed since" is confirmed with that moment
    asked = boss.post(
        url_of(WebhookEndpoint), {"action": "replay_failed", "_selected_action": [endpoint.pk]}
    )
    assert asked.status_code == 200
    assert "Send again the failed deliveries of 1 endpoint" in asked.content.decode()
    response = boss.post(
        url_of(WebhookEndpoint),
        {
            "action": "replay_failed",
            "_selected_action": [endpoint.pk],
            "apply": "1",
            "since_0": since.strftime("%Y-%m-%d"),
            "since_1": since.strftime("%H:%M:%S"),
        },
        follow=True,
    )
    # then only the recent failed one is pending again
    assert ("success", "1 failed deliveries will be sent again.") in messages_of(response)
    states = dict(WebhookDelivery.objects.values_list("pk", "state"))
    assert states == {old.pk: "failed", recent.pk: "pending", delivered.pk: "succeeded"}
    recent.refresh_from_db()
    assert recent.attempts == 0


def test_the_delivery_log_per_event_and_its_replay(boss, receiver):
    # given one event delivered to two endpoints, and another event
    first, _ = endpoint_for(receiver.url)
    second, _ = endpoint_for(receiver.url)
    event = an_event()
    now = timezone.now()
    one, two = owed(first, event, now=now), owed(second, event, now=now)
    owed(first, an_event(), now=now)
    send(one, now=now)
    # when the log is searched by the event's id (any case)
    response = boss.get(url_of(WebhookDelivery), {"q": event.id.upper()})
    # then both of its deliveries show, and nothing else
    assert {d.pk for d in response.context["cl"].result_list} == {one.pk, two.pk}
    assert boss.get(url_of(WebhookDelivery), {"q": "not an id"}).status_code == 200
    # a delivery's page shows its attempts
    page = boss.get(url_of(WebhookDelivery, one.pk, "change")).content.decode()
    assert "200" in page
    # replay sends it again
    boss.post(url_of(WebhookDelivery), {"action": "replay", "_selected_action": [one.pk]})
    one.refresh_from_db()
    assert (one.state, one.attempts) == ("pending", 0)


def test_replaying_needs_the_change_permission_on_deliveries():
    viewer = signed_in(is_staff=True, perms=["webhooks.view_webhookdelivery"])
    form = viewer.get(url_of(WebhookDelivery)).context["action_form"]
    assert form is None
    replayer = signed_in(
        is_staff=True,
        perms=["webhooks.view_webhookdelivery", "webhooks.change_webhookdelivery"],
    )
    form = replayer.get(url_of(WebhookDelivery)).context["action_form"]
    assert {name for name, _ in form.fields["action"].choices if name} == {"replay"}


def test_the_delivery_log_is_read_only(boss):
    endpoint, _ = endpoint_for("http://127.0.0.1:9/")
    delivery = owed(endpoint, an_event(), now=timezone.now())
    assert boss.get(url_of(WebhookDelivery, "add")).status_code == 403
    assert boss.get(url_of(WebhookDelivery, delivery.pk, "delete")).status_code == 403
    assert boss.post(url_of(WebhookDelivery, delivery.pk, "change"), {}).status_code == 403
    delivery.refresh_from_db()
    assert delivery.state == "pending"
