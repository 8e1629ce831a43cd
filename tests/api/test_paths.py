"""Both slash forms of every route, and JSON errors for every path under /api/ (config.middleware)."""

import re

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from config.api.services import token_issue
from config.events.services import event_record
from config.webhooks.models import WebhookDelivery
from config.webhooks.services import webhook_endpoint_create
from segments.services import segment_save
from statuses.models import Status, StatusLabel
from tags.models import ChangeSet
from tests.factories import CustomerFactory, TagFactory, UserFactory
from tests.routes import all_routes

pytestmark = pytest.mark.django_db


def routes() -> list[str]:
    """Every URL pattern outside the admin (whose ids are of another kind)."""
    return [route for route in all_routes() if not route.startswith("admin/") and route]


@pytest.fixture
def superclient():
    user = UserFactory(is_superuser=True, is_staff=True)
    _, raw = token_issue(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def ids():
    """A real object for each resource, so a detail route answers 200, not an object's 404."""
    tag = TagFactory(name="vip")
    return {
        "customers": CustomerFactory().id,
        "customer_tags": tag.id,
        "segments": segment_save(
            segment=None, data={"name": "S", "rule": {"all": ["vip"]}}, actor=None
        ).id,
        "statuses": Status.objects.first().id,
        "status_labels": StatusLabel.objects.first().id,
        "events": _event_id(),
        "change_sets": ChangeSet.objects.create(kind="retag").id,
        **_webhook_ids(),
    }


def _webhook_ids() -> dict[str, str]:
    endpoint, _ = webhook_endpoint_create(data={"url": "http://127.0.0.1:9/", "types": ["*"]})
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event_id=_event_id(), event_type="tag.created"
    )
    return {"webhook_endpoints": endpoint.id, "webhook_deliveries": delivery.id}


def _event_id() -> str:
    with transaction.atomic():
        return event_record(type="tag.created").id


def concrete(route: str, ids: dict[str, str]) -> str:
    path = re.sub(r"(?<=/)\^|\$$", "", route)
    prefix = re.search(r"api/v1/([a-z_]+)/", path)
    path = path.replace("(?P<id>[^/]+)", str(ids[prefix.group(1)]) if prefix else "x")
    assert "(?" not in path, path
    return "/" + path


def test_every_route_answers_the_same_with_and_without_a_trailing_slash(superclient, ids):
    # given every route of the URLconf (new ones are covered without editing this test)
    paths = [concrete(route, ids) for route in routes()]
    assert "/api/v1/customers/" in paths
    assert f"/api/v1/customers/{ids['customers']}" in paths
    for path in paths:
        other = path[:-1] if path.endswith("/") else f"{path}/"
        # when both forms are requested
        one, two = superclient.get(path), superclient.get(other)
        # then both reach the view: same status, no redirect, no unknown path
        assert one.status_code == two.status_code, (path, one.status_code, two.status_code)
        assert one.status_code not in {301, 302, 307, 308, 404}, (path, one.status_code)
        assert one.status_code < 500, path


@pytest.mark.parametrize("debug", [False, True])
def test_post_without_a_trailing_slash_creates(superclient, settings, debug):
    settings.DEBUG = debug
    response = superclient.post(
        "/api/v1/customers", {"name": "Ada", "email": "ada@example.com"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["customer"]["email"] == "ada@example.com"


def test_detail_with_a_trailing_slash_changes(superclient):
    customer = CustomerFactory(name="Old")
    response = superclient.patch(f"/api/v1/customers/{customer.id}/", {"name": "New"})
    assert response.status_code == 200, response.content
    assert response.json()["customer"]["name"] == "New"


def assert_json_error(response, status: int, code: str) -> None:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    assert response.json() == {
        "type": "client_error",
        "errors": [{"code": code, "detail": response.json()["errors"][0]["detail"], "attr": None}],
    }


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nothing",
        "/api/v1/nothing/",
        "/api/v2/customers/",
        "/api/",
        "/api/v1/customers/a/b/c",
    ],
)
@pytest.mark.parametrize("debug", [False, True])
def test_unknown_api_paths_are_json_404s(superclient, settings, path, debug):
    settings.DEBUG = debug
    assert_json_error(superclient.get(path), 404, "not_found")


def test_unknown_detail_is_a_json_404_in_both_forms(superclient):
    for path in (
        "/api/v1/customers/01hqjp31wcww3jhnagehc16r04",
        "/api/v1/customers/01hqjp31wcww3jhnagehc16r04/",
    ):
        assert_json_error(superclient.get(path), 404, "not_found")


def test_wrong_method_is_a_json_405(superclient):
    response = superclient.delete("/api/v1/customers")
    assert_json_error(response, 405, "method_not_allowed")


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/customers/", "/api/nothing"])
@pytest.mark.parametrize("debug", [False, True])
def test_a_foreign_host_gets_a_json_400_not_a_debug_page(client, settings, path, debug):
    settings.DEBUG = debug
    response = client.get(path, HTTP_HOST="evil.example")
    assert_json_error(response, 400, "invalid_host")
    assert b"SECRET" not in response.content
    assert b"Traceback" not in response.content


@pytest.mark.parametrize("debug", [False, True])
def test_an_unexpected_error_under_api_is_a_json_500(client, settings, monkeypatch, debug):
    # given a failure outside any DRF view (the health check's database call)
    settings.DEBUG = debug

    def boom(*args, **kwargs):
        raise RuntimeError("secret detail")

    monkeypatch.setattr("config.views.connection.cursor", boom)
    client.raise_request_exception = False
    # when
    response = client.get("/healthz")
    # then: the error format, nothing of the exception
    assert response.status_code == 500
    assert response.json() == {
        "type": "server_error",
        "errors": [{"code": "error", "detail": "A server error occurred.", "attr": None}],
    }
    assert b"secret detail" not in response.content


def test_admin_pages_answer_in_both_forms(admin_client):
    # given every admin route without a parameter (lists, add forms, the index, …)
    paths = [
        f"/{route}"
        for route in all_routes()
        if route.startswith("admin/")
        and not re.search(r"[<(^]", route)
        and route != "admin/logout/"
    ]
    assert "/admin/customers/customer/" in paths
    for path in paths:
        other = path[:-1] if path.endswith("/") else f"{path}/"
        one, two = admin_client.get(path), admin_client.get(other)
        assert one.status_code == two.status_code, (path, one.status_code, two.status_code)
        assert one.status_code in {200, 302, 403}, (path, one.status_code)  # 403: autocomplete
        assert one.status_code != 302 or one["Location"] != f"{path}/", path


def test_an_admin_form_posted_without_its_slash_is_not_redirected(admin_client):
    response = admin_client.post("/admin/tags/tag/add", {"name": "Posted"})
    assert response.status_code == 302
    assert response["Location"] == "/admin/tags/tag/"


def test_unknown_admin_paths_stay_html_404s(admin_client):
    response = admin_client.get("/admin/nothing/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
