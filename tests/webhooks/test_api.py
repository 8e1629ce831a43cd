"""/api/v1/webhook_endpoints and /api/v1/webhook_deliveries: the secret shown once, the guard's
400, closed bodies, the deliveries sub-list and a retry."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from config.webhooks.models import DeliveryState, WebhookDelivery, WebhookEndpoint
from tests.conftest import make_client
from tests.webhooks.helpers import an_event, endpoint_for, owed, send
from tests.webhooks.receiver import Answer

pytestmark = pytest.mark.django_db
ENDPOINTS = "/api/v1/webhook_endpoints/"
PERMS = (
    "webhooks.view_webhookendpoint",
    "webhooks.add_webhookendpoint",
    "webhooks.change_webhookendpoint",
    "webhooks.delete_webhookendpoint",
    "webhooks.view_webhookdelivery",
    "webhooks.change_webhookdelivery",
)


@pytest.fixture
def api():
    return make_client(*PERMS)


def errors(response) -> list[tuple[str, str]]:
    return [(e["attr"], e["code"]) for e in response.json()["errors"]]


def test_the_secret_is_shown_on_create_only_and_signs_the_deliveries(api, receiver):
    # given an endpoint created over the API
    response = api.post(
        ENDPOINTS,
        {"url": receiver.url, "types": ["customer.*"], "description": "CRM"},
        format="json",
    )
    assert response.status_code == 201, response.content
    created = response.json()["webhook_endpoint"]
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert created["types"] == ["customer.*"]
    assert (created["is_active"], created["disabled_reason"]) == (True, "")
    # then reading it back never shows the secret
    again = api.get(f"{ENDPOINTS}{created['id']}").json()["webhook_endpoint"]
    assert "secret" not in again
    assert all("secret" not in e for e in api.get(ENDPOINTS).json()["webhook_endpoints"])
    # and what is sent to it verifies with the secret shown
    endpoint = WebhookEndpoint.objects.get(pk=created["id"])
    assert endpoint.created_by == api.user
    now = timezone.now()
    send(owed(endpoint, an_event(), now=now), now=now)
    [request] = receiver.received
    Webhook(secret).verify(request.body, request.headers)


def test_rotating_shows_the_new_secret_once_and_the_old_still_signs(api, receiver):
    endpoint, old = endpoint_for(receiver.url)
    response = api.post(f"{ENDPOINTS}{endpoint.id}/rotate_secret", {}, format="json")
    assert response.status_code == 200, response.content
    new = response.json()["webhook_endpoint"]["secret"]
    assert new not in {old, ""}
    now = timezone.now()
    send(owed(endpoint, an_event(), now=now), now=now)
    [request] = receiver.received
    Webhook(new).verify(request.body, request.headers)
    Webhook(old).verify(request.body, request.headers)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"url": "http://127.0.0.1:9/", "types": ["*"], "secret": "x"},
            ("secret", "unknown_field"),
        ),
        ({"url": "http://127.0.0.1:9/", "types": ["*"], "id": "x"}, ("id", "unknown_field")),
        ({"url": "http://127.0.0.1:9/", "types": []}, ("types", "min_length")),
        (
            {"url": "http://127.0.0.1:9/", "types": ["customer.exploded"]},
            ("types.0", "invalid_choice"),
        ),
        ({"url": "http://127.0.0.1:9/", "types": ["nothing.*"]}, ("types.0", "invalid_choice")),
        ({"url": "http://127.0.0.1:9/", "types": "customer.*"}, ("types", "not_a_list")),
        ({"url": "gopher://example.com/", "types": ["*"]}, ("url", "invalid")),
        (
            {"url": "http://127.0.0.1:9/", "types": ["*"], "is_active": "yes"},
            ("is_active", "invalid"),
        ),
        ({"types": ["*"]}, ("url", "required")),
        ({"url": "http://a@127.0.0.1/", "types": ["*"]}, ("url", "invalid")),
        ({"url": "http://127.0.0.1/#x", "types": ["*"]}, ("url", "invalid")),
        ({"url": "http://no-such-host.invalid/", "types": ["*"]}, ("url", "unresolvable_host")),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, body, expected):
    response = api.post(ENDPOINTS, body, format="json")
    assert response.status_code == 400, response.content
    assert expected in errors(response)
    assert not WebhookEndpoint.objects.exists()


def test_a_private_destination_is_a_clear_400(api, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    response = api.post(ENDPOINTS, {"url": "http://127.0.0.1:9/", "types": ["*"]}, format="json")
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["attr"], error["code"]) == ("url", "private_address")
    assert "loopback" in error["detail"]
    assert not WebhookEndpoint.objects.exists()


def test_turning_an_endpoint_on_again_clears_why_it_was_off(api, receiver):
    endpoint, _ = endpoint_for(receiver.url)
    receiver.answer(Answer(status=410))
    now = timezone.now()
    send(owed(endpoint, an_event(), now=now), now=now)
    shown = api.get(f"{ENDPOINTS}{endpoint.id}").json()["webhook_endpoint"]
    assert (shown["is_active"], shown["disabled_reason"]) == (
        False,
        "The endpoint answered 410 Gone.",
    )
    assert shown["disabled_at"] is not None
    response = api.patch(f"{ENDPOINTS}{endpoint.id}", {"is_active": True}, format="json")
    assert response.status_code == 200, response.content
    shown = response.json()["webhook_endpoint"]
    assert (shown["is_active"], shown["disabled_reason"], shown["disabled_at"]) == (True, "", None)


def test_deliveries_are_listed_per_endpoint_and_one_can_be_sent_again(api, receiver):
    # given a delivery that failed for good and one for another endpoint
    endpoint, _ = endpoint_for(receiver.url)
    other, _ = endpoint_for(receiver.url)
    now = timezone.now()
    failed = owed(endpoint, an_event(), now=now)
    WebhookDelivery.objects.filter(pk=failed.pk).update(
        state=DeliveryState.FAILED, attempts=10, last_status=500
    )
    owed(other, an_event(), now=now)
    # when the endpoint's deliveries are listed
    page = api.get(f"{ENDPOINTS}{endpoint.id}/deliveries").json()
    # then only its own show, with their state
    [shown] = page["webhook_deliveries"]
    assert (shown["id"], shown["state"], shown["attempts"], shown["last_status"]) == (
        failed.id,
        "failed",
        10,
        500,
    )
    assert shown["next_attempt_at"] is None
    assert page["next"] is None
    # when it is retried, it is pending again with a fresh schedule, and goes out
    response = api.post(f"/api/v1/webhook_deliveries/{failed.id}/retry", {}, format="json")
    assert response.status_code == 200, response.content
    shown = response.json()["webhook_delivery"]
    assert (shown["state"], shown["attempts"]) == ("pending", 0)
    assert shown["next_attempt_at"] is not None
    assert send(failed, now=timezone.now()).state == "succeeded"


def test_retry_refuses_a_body(api):
    endpoint, _ = endpoint_for("http://127.0.0.1:9/")
    delivery = owed(endpoint, an_event(), now=timezone.now())
    response = api.post(
        f"/api/v1/webhook_deliveries/{delivery.id}/retry", {"now": True}, format="json"
    )
    assert response.status_code == 400
    assert errors(response) == [("now", "unknown_field")]


def test_deleting_an_endpoint_deletes_its_deliveries(api):
    endpoint, _ = endpoint_for("http://127.0.0.1:9/")
    owed(endpoint, an_event(), now=timezone.now())
    assert api.delete(f"{ENDPOINTS}{endpoint.id}").status_code == 204
    assert not WebhookDelivery.objects.exists()


def test_an_unknown_delivery_is_a_404(api):
    response = api.post("/api/v1/webhook_deliveries/01jbx6m2qf7d8h4kz9w3n5c0vt/retry", {})
    assert response.status_code == 404


def test_integrators_manage_webhooks_and_readers_only_see_them():
    read_write = set(
        Group.objects.get(name="API read-write").permissions.values_list("codename", flat=True)
    )
    read_only = set(
        Group.objects.get(name="API read-only").permissions.values_list("codename", flat=True)
    )
    assert {"add_webhookendpoint", "change_webhookdelivery"} <= read_write
    assert "view_webhookendpoint" in read_only
    assert "add_webhookendpoint" not in read_only


def queries_for(client, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured.captured_queries)


def test_the_lists_cost_the_same_queries_for_few_and_many_rows(api):
    # given one endpoint with one delivery
    endpoint, _ = endpoint_for("http://127.0.0.1:9/")
    owed(endpoint, an_event(), now=timezone.now())
    api.get(ENDPOINTS)  # the token's first use is recorded once
    few = (queries_for(api, ENDPOINTS), queries_for(api, f"{ENDPOINTS}{endpoint.id}/deliveries"))
    # when there are twenty of each
    for _ in range(19):
        endpoint_for("http://127.0.0.1:9/")
        owed(endpoint, an_event(), now=timezone.now())
    many = (queries_for(api, ENDPOINTS), queries_for(api, f"{ENDPOINTS}{endpoint.id}/deliveries"))
    # then the lists take as many queries
    assert many == few
