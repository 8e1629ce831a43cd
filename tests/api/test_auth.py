"""Authentication, tokens, permissions and throttling (config/api)."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from config.api.models import ApiToken, token_digest
from config.api.services import token_authenticate, token_issue, token_revoke
from tests.conftest import make_client
from tests.factories import CustomerFactory, UserFactory
from tests.routes import all_routes

pytestmark = pytest.mark.django_db


def api_routes() -> list[str]:
    """Every /api/v1/ URL pattern, with a placeholder id, so new endpoints are covered too."""
    urls = []
    for route in all_routes():
        if not route.startswith("api/v1/"):
            continue
        # the id first: stripping the anchors would turn its [^/]+ into [/]+
        path = route.replace("(?P<id>[^/]+)", "01hqjp31wcww3jhnagehc16r04")
        path = re.sub(r"(?<=/)\^|\$$", "", path)
        assert "(?" not in path, route
        urls.append("/" + path)
    return sorted(set(urls))


def test_the_credentials_sweep_covers_every_path_of_the_schema():
    # the paths the schema documents, with the placeholder id, are exactly the routes swept
    schema = APIClient().get("/api/schema/?format=json").json()
    documented = {path.replace("{id}", "01hqjp31wcww3jhnagehc16r04") for path in schema["paths"]}
    assert set(api_routes()) == documented
    assert len(documented) == 32


def test_every_api_endpoint_requires_credentials():
    # given the API's routes and a client without credentials
    urls = api_routes()
    assert "/api/v1/customers/" in urls
    assert "/api/v1/customers/01hqjp31wcww3jhnagehc16r04/tag" in urls
    client = APIClient()
    for url in urls:
        for method in ("get", "post", "put", "patch", "delete"):
            # when
            response = getattr(client, method)(url, {}, format="json")
            # then: 401 before anything else (even a method the route lacks)
            assert response.status_code == 401, (method, url, response.status_code)
            assert response.json()["errors"][0]["code"] == "not_authenticated"
            assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize("keyword", ["Bearer", "Token", "bearer"])
def test_bearer_and_token_keywords_work(keyword):
    user = UserFactory(perms=["customers.view_customer"])
    _, raw = token_issue(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {raw}")
    assert client.get("/api/v1/customers/").status_code == 200


def test_basic_auth_works_for_users_with_passwords():
    user = UserFactory(perms=["customers.view_customer"])
    user.set_password("s3cret-pass-word")
    user.save()
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION="Basic "
        + __import__("base64").b64encode(f"{user.username}:s3cret-pass-word".encode()).decode()
    )
    assert client.get("/api/v1/customers/").status_code == 200


def test_revoked_expired_and_unknown_tokens_are_refused():
    user = UserFactory(perms=["customers.view_customer"])
    revoked, revoked_raw = token_issue(user=user)
    token_revoke(token=revoked)
    _, expired_raw = token_issue(user=user, expires_at=timezone.now() - timedelta(seconds=1))
    for raw in (revoked_raw, expired_raw, "tdk_not-a-real-token", "x y"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        response = client.get("/api/v1/customers/")
        assert response.status_code == 401, raw
        assert response.json()["type"] == "client_error"


def test_token_of_an_inactive_user_is_refused():
    client = make_client("customers.view_customer")
    client.user.is_active = False
    client.user.save()
    assert client.get("/api/v1/customers/").status_code == 401


def test_token_is_stored_only_as_a_digest_and_touches_last_used():
    # given a freshly issued token
    client = make_client("customers.view_customer")
    token = ApiToken.objects.get(user=client.user)
    assert token.last_used_at is None
    # then the raw token is nowhere in the row
    row = ApiToken.objects.filter(pk=token.pk).values().get()
    assert client.raw_token not in repr(row)
    assert row["digest"] == token_digest(client.raw_token)
    # when it is used
    client.get("/api/v1/customers/")
    # then last_used_at is recorded
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_view_permission_is_required_for_reads():
    client = make_client()  # no permissions at all
    response = client.get("/api/v1/customers/")
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "permission_denied"


def test_change_permission_is_required_for_writes():
    customer = CustomerFactory()
    client = make_client("customers.view_customer")
    response = client.patch(f"/api/v1/customers/{customer.id}", {"name": "X"})
    assert response.status_code == 403
    customer.refresh_from_db()
    assert customer.name != "X"


def test_add_and_delete_permissions_are_required():
    customer = CustomerFactory()
    client = make_client("customers.view_customer", "customers.change_customer")
    assert client.post("/api/v1/customers/", {"name": "New"}).status_code == 403
    assert client.delete(f"/api/v1/customers/{customer.id}").status_code == 403


def test_issue_token_command_prints_a_working_token_once(capsys):
    UserFactory(username="integrator", perms=["customers.view_customer"])
    call_command("issue_token", "integrator", "--expires-in", "30", "--name", "crm")
    raw = capsys.readouterr().out.strip()
    token = ApiToken.objects.get(user__username="integrator")
    assert token.name == "crm"
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    assert client.get("/api/v1/customers/").status_code == 200


def test_issue_token_command_refuses_unknown_user():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No user named 'ghost'"):
        call_command("issue_token", "ghost")
    assert ApiToken.objects.count() == 0


def test_throttling_answers_429_with_retry_after(settings):
    # given a budget of 3 requests a minute for this token
    settings.API_THROTTLE_RATE = "3/min"
    from django.core.cache import cache

    cache.clear()
    client = make_client("customers.view_customer")
    other = make_client("customers.view_customer")
    # when it makes 4
    statuses = [client.get("/api/v1/customers/").status_code for _ in range(4)]
    # then the 4th is throttled, with Retry-After, and another token is unaffected
    assert statuses == [200, 200, 200, 429]
    response = client.get("/api/v1/customers/")
    assert response.json()["errors"][0]["code"] == "throttled"
    assert 0 < int(response["Retry-After"]) <= 60
    assert other.get("/api/v1/customers/").status_code == 200


def test_groups_exist_with_permissions():
    from django.contrib.auth.models import Group

    read_only = Group.objects.get(name="API read-only")
    read_write = Group.objects.get(name="API read-write")
    back_office = Group.objects.get(name="Back office")
    ro = {p.codename for p in read_only.permissions.all()}
    rw = {p.codename for p in read_write.permissions.all()}
    assert "view_customer" in ro
    assert all(codename.startswith("view_") for codename in ro)
    assert {"view_customer", "add_customer", "change_customer", "tag_customer"} <= rw
    assert "delete_customer" not in rw
    assert "delete_customer" in {p.codename for p in back_office.permissions.all()}


def test_a_user_in_the_read_only_group_can_read_not_write():
    from django.contrib.auth.models import Group

    client = make_client()
    client.user.groups.add(Group.objects.get(name="API read-only"))
    assert client.get("/api/v1/customers/").status_code == 200
    assert client.post("/api/v1/customers/", {"name": "Nope"}).status_code == 403


def test_every_api_endpoint_refuses_a_token_without_permissions():
    client = make_client()
    for url in api_routes():
        for method in ("get", "post", "put", "patch", "delete"):
            response = getattr(client, method)(url, {}, format="json")
            assert response.status_code == 403, (method, url, response.status_code)
            assert response.json()["errors"][0]["code"] == "permission_denied"


def test_an_integrator_token_cannot_open_the_admin():
    client = make_client("customers.view_customer", "customers.change_customer")
    response = client.get("/admin/", follow=False)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert client.get("/admin/customers/customer/").status_code == 302


def test_a_token_issued_in_the_admin_is_shown_once_and_works():
    from django.contrib.messages import get_messages
    from django.test import Client

    boss = UserFactory(username="boss", is_staff=True, is_superuser=True)
    integrator = UserFactory(username="crm", perms=["customers.view_customer"])
    admin = Client()
    admin.force_login(boss)
    response = admin.post(
        "/admin/api/apitoken/add/", {"user": integrator.pk, "name": "CRM sync"}, follow=True
    )
    assert response.status_code == 200
    shown = [str(m) for m in get_messages(response.wsgi_request)] or [
        m.message for m in response.context["messages"]
    ]
    raw = next(m.split(": ")[-1] for m in shown if "will not be shown again" in m)
    token = ApiToken.objects.get(user=integrator)
    assert token.name == "CRM sync"
    assert token.digest == token_digest(raw)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/customers/").status_code == 200
    # revoking it in the admin shuts it out
    admin.post("/admin/api/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert client.get("/api/v1/customers/").status_code == 401


def test_token_user_and_permissions_come_in_one_query_and_are_read_fresh_each_request(
    django_assert_num_queries,
):
    # given a user holding one permission directly and another through a group
    user = UserFactory(perms=["customers.view_customer"])
    group = Group.objects.create(name="taggers")
    group.permissions.add(Permission.objects.get(codename="tag_customer"))
    user.groups.add(group)
    _, raw = token_issue(user=user)
    token_authenticate(raw=raw)  # first use records last_used_at
    # when
    with django_assert_num_queries(1):
        token = token_authenticate(raw=raw)
        held = [
            token.user.has_perm(p)
            for p in ("customers.view_customer", "customers.tag_customer", "tags.view_tag")
        ]
    # then
    assert held == [True, True, False]
    # a permission taken away counts from the next request on: nothing is kept across requests
    group.permissions.clear()
    assert not token_authenticate(raw=raw).user.has_perm("customers.tag_customer")


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        ("Bearer two parts", "Invalid token header: expected one token."),
        ("Token", "Invalid token header: expected one token."),
        ("Bearer tdk_caf\xe9".encode("latin-1"), "Invalid token."),
        ("Bearer tdk_not-a-real-token", "Invalid, expired or revoked token."),
    ],
)
def test_each_refused_token_says_why(header, detail):
    # the header as bytes, as a client that is not ASCII-clean would send it
    raw = header if isinstance(header, bytes) else header.encode()
    response = APIClient().get("/api/v1/customers/", HTTP_AUTHORIZATION=raw.decode("latin-1"))
    assert response.status_code == 401
    (error,) = response.json()["errors"]
    assert (error["code"], error["detail"]) == ("authentication_failed", detail)
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
