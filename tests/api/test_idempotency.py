from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from config.api.models import IdempotencyKey
from customers.models import Customer
from tests.conftest import ALL_CUSTOMER_PERMS, make_client

pytestmark = pytest.mark.django_db


def post(client, body, key="k-1"):
    return client.post("/api/v1/customers/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_same_key_and_body_replays_without_doing_the_work_again(api):
    first = post(api, {"name": "Ada"})
    second = post(api, {"name": "Ada"})
    assert first.status_code == second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert second.json() == first.json()
    assert Customer.objects.count() == 1


def test_same_key_with_another_body_is_a_422(api):
    post(api, {"name": "Ada"})
    response = post(api, {"name": "Grace"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert list(Customer.objects.values_list("name", flat=True)) == ["Ada"]


def test_a_key_still_in_flight_is_a_409(api):
    post(api, {"name": "Ada"})
    IdempotencyKey.objects.update(completed_at=None)  # as if the first were still running
    response = post(api, {"name": "Ada"})
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "idempotency_key_in_flight"
    assert Customer.objects.count() == 1


def test_keys_are_scoped_to_the_token(api):
    other = make_client(*ALL_CUSTOMER_PERMS)
    assert post(api, {"name": "Ada"}).status_code == 201
    response = post(other, {"name": "Ada"})
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert Customer.objects.count() == 2


def test_errors_are_replayed_too_but_not_server_errors(api):
    bad = post(api, {"email": "nope"}, key="bad")
    assert bad.status_code == 400
    again = post(api, {"email": "nope"}, key="bad")
    assert (again.status_code, again["Idempotent-Replayed"]) == (400, "true")


def test_a_key_older_than_24_hours_is_forgotten(api):
    post(api, {"name": "Ada"})
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    response = post(api, {"name": "Ada"})
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert Customer.objects.count() == 2


def test_prune_command_deletes_old_keys(api, capsys):
    post(api, {"name": "Ada"}, key="old")
    post(api, {"name": "Bob"}, key="new")
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
    call_command("prune_idempotency_keys")
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
    assert "Deleted 1" in capsys.readouterr().out


def test_an_invalid_key_is_a_400(api):
    response = post(api, {"name": "Ada"}, key="x" * 256)
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "Idempotency-Key"
    assert Customer.objects.count() == 0


def test_the_same_key_on_another_path_is_a_422(api):
    # given a key used to create a customer
    assert post(api, {"name": "Ada"}, key="shared").status_code == 201
    # when the same key and body go to another route (the path is part of the fingerprint)
    response = api.post(
        "/api/v1/customers/?x=1", {"name": "Ada"}, format="json", HTTP_IDEMPOTENCY_KEY="shared"
    )
    # then it is refused as a reused key, and nothing is created twice
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert Customer.objects.count() == 1


def test_a_request_that_ended_in_a_server_error_frees_its_key(api, monkeypatch):
    # given a first attempt that fails inside the server
    from customers import services

    real = services.customer_create

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "customer_create", broken)
    api.raise_request_exception = False
    failed = post(api, {"name": "Ada"}, key="retry-me")
    assert failed.status_code == 500
    assert not IdempotencyKey.objects.filter(key="retry-me").exists()
    # when the client retries with the same key once the server is healthy again
    monkeypatch.setattr(services, "customer_create", real)
    retried = post(api, {"name": "Ada"}, key="retry-me")
    # then the retry runs (it is not a replay of the 500)
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried
    assert Customer.objects.count() == 1


def test_keys_on_the_tag_endpoint_replay_without_tagging_twice(tagger):
    from tags.models import TagAssignment
    from tests.factories import CustomerFactory, TagFactory

    # given a customer and an existing tag
    customer = CustomerFactory()
    TagFactory(name="vip")
    url = f"/api/v1/customers/{customer.id}/tag"
    body = {"tags_to_add": ["vip"]}
    # when the same call is sent twice with one key
    first = tagger.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="tag-1")
    second = tagger.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="tag-1")
    # then the second is the first's answer, replayed: the tag is reported added, not a no-op
    assert first.status_code == second.status_code == 200
    assert second["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert first.json()["tags_added"] == ["vip"]
    assert TagAssignment.objects.filter(customer=customer).count() == 1
    assert TagAssignment.history.filter(customer_id=customer.id).count() == 1


def test_a_replay_asking_for_another_datetime_format_is_another_request(api):
    """Replays are byte-exact, so a key first used with ISO datetimes cannot answer unix_ms
    (docs/decisions.md, Idempotency-Key): a 422, not ISO dates to a unix_ms caller."""
    first = post(api, {"name": "Ada"})
    assert isinstance(first.json()["customer"]["created_at"], str)
    other = api.post(
        "/api/v1/customers/",
        {"name": "Ada"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-1",
        HTTP_X_DATETIME_FORMAT="unix_ms",
    )
    assert other.status_code == 422
    assert other.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert "X-Datetime-Format" in other.json()["errors"][0]["detail"]
    explicit_iso = api.post(
        "/api/v1/customers/",
        {"name": "Ada"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-1",
        HTTP_X_DATETIME_FORMAT="ISO",
    )
    assert explicit_iso["Idempotent-Replayed"] == "true"
    assert explicit_iso.content == first.content
    assert Customer.objects.count() == 1


def test_a_unix_ms_request_replays_in_unix_ms(api):
    def unix_ms():
        return api.post(
            "/api/v1/customers/",
            {"name": "Ada"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="k-ms",
            HTTP_X_DATETIME_FORMAT="unix_ms",
        )

    first, again = unix_ms(), unix_ms()
    assert isinstance(first.json()["customer"]["created_at"], int)
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert post(api, {"name": "Ada"}, key="k-ms").status_code == 422
