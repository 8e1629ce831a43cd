"""Failed sign-ins lock the client address or the username for a while (config.auth_failures):
the API answers 429 with Retry-After, the admin's login form says so; no password is hashed
while locked."""

import base64
import time

import pytest
from rest_framework.test import APIClient

from config.api.services import token_issue
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "the right password 42"


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.AUTH_FAILURES_PER_USERNAME = 3
    settings.AUTH_FAILURES_PER_ADDRESS = 5
    settings.AUTH_FAILURE_WINDOW_SECONDS = 600


@pytest.fixture
def user():
    user = UserFactory(username="ada", perms=["customers.view_customer"], is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    return user


def basic(username: str, password: str, address: str = "10.0.0.1") -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {encoded}")
    return client


def assert_locked(response) -> None:
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 600
    body = response.json()
    assert body["type"] == "client_error"
    assert body["errors"][0]["code"] == "throttled"
    assert "Too many failed sign-in attempts" in body["errors"][0]["detail"]


def test_basic_auth_locks_a_username_after_repeated_wrong_passwords(user, monkeypatch):
    # given three wrong passwords for "ada", each a 401 with the usual message
    wrong = [basic("ada", f"guess {n}").get("/api/v1/customers/") for n in range(3)]
    assert [r.status_code for r in wrong] == [401, 401, 401]
    assert len({r.json()["errors"][0]["detail"] for r in wrong}) == 1
    # when she (or anyone, from anywhere) tries again, even with the right password
    checked = []
    monkeypatch.setattr(
        "django.contrib.auth.backends.ModelBackend.authenticate",
        lambda *args, **kwargs: checked.append(1),
    )
    response = basic("ada", PASSWORD, address="10.9.9.9").get("/api/v1/customers/")
    # then 429 in the error format with Retry-After, and no password was checked
    assert_locked(response)
    assert checked == []


def test_a_right_password_clears_the_username_count(user):
    for n in range(2):
        assert basic("ada", f"guess {n}").get("/api/v1/customers/").status_code == 401
    assert basic("ada", PASSWORD).get("/api/v1/customers/").status_code == 200
    for n in range(2):
        assert basic("ada", f"again {n}").get("/api/v1/customers/").status_code == 401
    assert basic("ada", PASSWORD).get("/api/v1/customers/").status_code == 200


def test_basic_auth_locks_an_address_guessing_many_usernames(user):
    # given five wrong logins from one address, each for another name
    for n in range(5):
        assert (
            basic(f"name{n}", "x", address="10.0.0.7").get("/api/v1/customers/").status_code == 401
        )
    # then that address is locked, even for a right password, and others are not
    assert_locked(basic("ada", PASSWORD, address="10.0.0.7").get("/api/v1/customers/"))
    assert basic("ada", PASSWORD, address="10.0.0.8").get("/api/v1/customers/").status_code == 200


def test_bad_tokens_lock_the_address(user):
    _, raw = token_issue(user=user)
    guesser = APIClient(REMOTE_ADDR="10.0.0.9")
    for n in range(5):
        guesser.credentials(HTTP_AUTHORIZATION=f"Bearer tdk_guess{n}")
        assert guesser.get("/api/v1/customers/").status_code == 401
    guesser.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert_locked(guesser.get("/api/v1/customers/"))
    honest = APIClient(REMOTE_ADDR="10.0.0.10")
    honest.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert honest.get("/api/v1/customers/").status_code == 200


def test_a_forwarded_for_header_does_not_escape_the_address_lock(user, settings):
    # given no trusted proxy (the default outside production)
    for n in range(5):
        client = basic(f"name{n}", "x", address="10.0.0.11")
        client.credentials(
            HTTP_AUTHORIZATION=client._credentials["HTTP_AUTHORIZATION"],
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
        )
        assert client.get("/api/v1/customers/").status_code == 401
    assert_locked(basic("ada", PASSWORD, address="10.0.0.11").get("/api/v1/customers/"))


def admin_login(client, username: str, password: str):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR="10.0.1.1",
    )


def test_the_admin_login_says_when_attempts_are_locked(client, user):
    # given three wrong passwords in the admin
    for n in range(3):
        response = admin_login(client, "ada", f"guess {n}")
        assert response.status_code == 200
        assert b"Please enter the correct username and password" in response.content
    # when the right password follows
    response = admin_login(client, "ada", PASSWORD)
    # then the form says why it refuses, and she is not signed in
    assert response.status_code == 200
    assert b"Too many failed sign-in attempts" in response.content
    assert b"Try again in 10 minutes" in response.content
    assert "_auth_user_id" not in client.session


def test_the_admin_login_works_again_after_the_window(client, user, monkeypatch):
    for n in range(3):
        admin_login(client, "ada", f"guess {n}")
    assert b"Too many" in admin_login(client, "ada", PASSWORD).content
    later = time.time() + 601
    monkeypatch.setattr(time, "time", lambda: later)  # the window has passed
    response = admin_login(client, "ada", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
