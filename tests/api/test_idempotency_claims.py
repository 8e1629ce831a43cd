"""Idempotency-Key: which requests claim a key, whose key a replay comes from, the 24-hour
boundary, and claims that race with another request (docs/decisions.md, Idempotency-Key)."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from config.api.models import IdempotencyKey
from config.api.services import token_issue
from customers.models import Customer
from tests.conftest import ALL_CUSTOMER_PERMS, make_client
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/customers/"


def post(client, body, key):
    return client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def created_id(response) -> str:
    return response.json()["customer"]["id"]


def test_a_valid_key_of_255_characters_with_inner_spaces_is_accepted(api):
    key = "a" + " ~" * 126 + "!z"
    assert len(key) == 255
    first, again = post(api, {"name": "Ada"}, key), post(api, {"name": "Ada"}, key)
    assert first.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert Customer.objects.count() == 1


@pytest.mark.parametrize("key", ["x" * 256, "", "clé", "tab\there"])
def test_an_invalid_key_is_refused_with_the_rule(api, key):
    response = post(api, {"name": "Ada"}, key)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "invalid",
            "detail": "Must be 1–255 visible ASCII characters.",
            "attr": "Idempotency-Key",
        }
    ]
    assert not Customer.objects.exists()
    assert not IdempotencyKey.objects.exists()


def test_a_key_on_another_method_than_post_is_ignored(api):
    # given a customer
    customer = CustomerFactory(name="Ada")
    url = f"/api/v1/customers/{customer.id}"
    # when two different PATCHes carry the same key
    first = api.patch(url, {"name": "Grace"}, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    second = api.patch(url, {"name": "Hedy"}, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    # then both run (neither is a replay nor a reused key) and no key is stored
    assert first.status_code == second.status_code == 200
    assert "Idempotent-Replayed" not in second
    assert second.json()["customer"]["name"] == "Hedy"
    customer.refresh_from_db()
    assert customer.name == "Hedy"
    assert not IdempotencyKey.objects.exists()


def test_two_tokens_of_one_user_have_their_own_keys(api):
    # given a second token of the same user
    _, raw = token_issue(user=api.user)
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    # when both send the same key and body
    first, second = post(api, {"name": "Ada"}, "k"), post(other, {"name": "Ada"}, "k")
    # then each request runs: a key belongs to one token, not to the user
    assert first.status_code == second.status_code == 201
    assert "Idempotent-Replayed" not in second
    assert created_id(first) != created_id(second)
    assert Customer.objects.count() == 2


def test_a_replay_is_the_callers_own_response_when_another_client_used_the_key_first(api):
    # given another client that used the key first, and then this one
    other = make_client(*ALL_CUSTOMER_PERMS)
    theirs = post(other, {"name": "Ada"}, "shared")
    mine = post(api, {"name": "Ada"}, "shared")
    assert theirs.status_code == mine.status_code == 201
    # when this client retries
    again = post(api, {"name": "Ada"}, "shared")
    # then it gets its own response back, never the other client's
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == mine.content
    assert created_id(again) != created_id(theirs)
    assert Customer.objects.count() == 2


def test_a_replay_is_the_response_of_that_key_among_the_clients_keys(api):
    # given two requests with the same body under two keys
    first, second = post(api, {"name": "Ada"}, "one"), post(api, {"name": "Ada"}, "two")
    assert created_id(first) != created_id(second)
    # when the second is retried, then its own response comes back
    again = post(api, {"name": "Ada"}, "two")
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == second.content
    assert Customer.objects.count() == 2


def test_a_key_exactly_24_hours_old_still_replays_and_is_not_pruned(api, monkeypatch, capsys):
    # given a key stored exactly 24 hours before now
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)
    first = post(api, {"name": "Ada"}, "day")
    IdempotencyKey.objects.update(created_at=now - timedelta(hours=24))
    # when it is used again and the prune runs
    again = post(api, {"name": "Ada"}, "day")
    call_command("prune_idempotency_keys")
    # then it is still alive: replayed, and kept
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert "Deleted 0 idempotency key(s)" in capsys.readouterr().out
    assert IdempotencyKey.objects.count() == 1


def test_a_key_a_microsecond_past_24_hours_is_forgotten(api, monkeypatch):
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)
    post(api, {"name": "Ada"}, "day")
    IdempotencyKey.objects.update(created_at=now - timedelta(hours=24, microseconds=1))
    again = post(api, {"name": "Ada"}, "day")
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again
    assert Customer.objects.count() == 2


def test_forgetting_an_expired_key_leaves_other_clients_keys_alone(api, capsys):
    # given two clients whose keys "k" expired at the same instant
    other = make_client(*ALL_CUSTOMER_PERMS)
    post(api, {"name": "Ada"}, "k")
    post(other, {"name": "Ada"}, "k")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    # when one of them reuses the key
    assert post(api, {"name": "Ada"}, "k").status_code == 201
    # then only its own expired key was replaced; the other's waits for the prune
    assert IdempotencyKey.objects.filter(key="k").count() == 2
    call_command("prune_idempotency_keys")
    assert "Deleted 1 idempotency key(s)" in capsys.readouterr().out
    assert IdempotencyKey.objects.filter(key="k").count() == 1


def rival_claims(times: int):
    """An execute wrapper: before each of this request's first ``times`` claims of its key,
    another request claims the same key; that claim is gone again (pruned) by the time this
    request looks it up."""
    left = [times]
    table = IdempotencyKey._meta.db_table

    def wrapper(execute, sql, params, many, context):
        if left[0] and sql.startswith(f'INSERT INTO "{table}"'):
            left[0] -= 1
            # the rival's INSERT, undone with the savepoint of the claim that then fails
            execute(sql, params, many, context)
        return execute(sql, params, many, context)

    return wrapper


def test_a_key_pruned_between_a_failed_claim_and_its_lookup_is_claimed_again(api):
    with connection.execute_wrapper(rival_claims(1)):
        response = post(api, {"name": "Ada"}, "k")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert Customer.objects.count() == 1
    assert IdempotencyKey.objects.get(key="k").response_status == 201


def test_a_key_that_keeps_being_claimed_by_others_gives_up_after_two_tries(api):
    with connection.execute_wrapper(rival_claims(2)):
        response = post(api, {"name": "Ada"}, "k")
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "idempotency_key_in_flight"
    assert not Customer.objects.exists()
