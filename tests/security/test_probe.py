"""The standing probe: every request that once got a 5xx (or was wrongly accepted) is replayed,
and none may get a 5xx again. Each request's exact answer is pinned in the app's own tests; here
the point is the sweep: one place that lists them all and counts the server errors.
"""

import base64
import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from config.api.services import token_issue
from segments.models import Segment
from statuses.models import Status, StatusLabel
from tests.factories import CustomerFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db


def cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


@pytest.fixture
def world():
    """A superuser's API client and admin client, and one object of each kind."""
    user = UserFactory(username="prober", is_staff=True, is_superuser=True)
    _, raw = token_issue(user=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    admin = Client()
    admin.force_login(user)
    customer = CustomerFactory(email="ada@example.com")
    tag = TagFactory(name="vip")
    status = Status.objects.create(name="Probe")
    label = StatusLabel.objects.create(name="Probe label", status=status)
    segment = Segment.objects.create(name="Probe segment")
    segment.tags_all.add(tag)
    return {
        "api": api,
        "admin": admin,
        "customer": customer.id,
        "tag": tag.id,
        "status": status.id,
        "label": label.id,
        "segment": segment.id,
    }


def api_requests(w: dict) -> list[tuple[str, str, object]]:
    """(method, path, JSON body or raw bytes) of every request in the probe, issues 13 and 14."""
    c, t, s, st, lb = w["customer"], w["tag"], w["segment"], w["status"], w["label"]
    nested = b'{"metadata": ' + b'{"a": ' * 1000 + b"1" + b"}" * 1000 + b', "name": "x"}'
    return [
        # a nested item missing a field, sent as a partial update, then read back
        ("PATCH", f"/api/v1/customer_tags/{t}", {"metadata": {"info": [{"key": "k"}]}}),
        ("GET", "/api/v1/customer_tags/?includes=customer_tag.metadata", None),
        ("GET", f"/api/v1/customer_tags/{t}?includes=customer_tag.metadata", None),
        # limits and cursors, on lists and sub-lists
        ("GET", f"/api/v1/customer_tags/{t}/history?limit=0", None),
        ("GET", f"/api/v1/customers/{c}/status_history?limit=0", None),
        ("GET", f"/api/v1/segments/{s}/customers?limit=0", None),
        ("GET", "/api/v1/customers/?limit=500", None),
        ("GET", f"/api/v1/customer_tags/?ordering=customer_count&cursor={cursor('p=abc')}", None),
        ("GET", f"/api/v1/customer_tags/?ordering=name&cursor={cursor('p=%00')}", None),
        ("GET", f"/api/v1/customer_tags/{t}/history?cursor={cursor('p=abc')}", None),
        ("GET", f"/api/v1/customers/{c}/status_history?cursor={cursor('p=x&o=1')}", None),
        ("GET", f"/api/v1/customers/?cursor={cursor('p=' + 'f' * 40)}", None),
        # query parameters and path segments
        ("DELETE", f"/api/v1/customers/{c}/tags?keys=bad!", None),
        ("DELETE", f"/api/v1/customer_tags/{t}?includes=junk", None),
        ("GET", "/api/v1/customers/a%00b@x.com?identify_by=email", None),
        ("POST", "/api/v1/customers/a%00b@x.com/tag?identify_by=email", {"tags_to_add": ["x"]}),
        (
            "PUT",
            "/api/v1/customers/lookup/status?source=API&identifierName=email"
            f"&identifierValue=ada@example.com&accountId={'a' * 500}",
            {"reason": "r", "label": "Inactive"},
        ),
        ("GET", f"/api/v1/customers/{'a' * 300}?identify_by=email", None),
        # bodies
        ("PATCH", f"/api/v1/status_labels/{lb}", {"allowed_next": {}}),
        (
            "PUT",
            f"/api/v1/status_labels/{lb}",
            {"name": "Probe label", "status": "Probe", "allowed_next": {"Active": 1}},
        ),
        ("PUT", f"/api/v1/statuses/{st}", {"name": "Probe", "allowed_next": {"Active": 1}}),
        ("POST", "/api/v1/customers/bulk_tag", {"filter": {}, "tags_to_add": ["x"]}),
        ("POST", "/api/v1/customers/bulk_tag", {"filter": {"tag": "x"}, "tags_to_add": ["x"]}),
        ("POST", "/api/v1/customer_tags/", {"name": "z", "metadata": {"category": "x"}}),
        ("POST", "/api/v1/customers/", b'{"name": "n", "metadata": {"n": 1e400}}'),
        ("POST", "/api/v1/customers/", b'{"name": "n", "metadata": {"n": NaN}}'),
        ("POST", "/api/v1/customers/", nested),
        ("POST", "/api/v1/customers/", b'{"name": "a", "name": "b"}'),
        ("POST", "/api/v1/customers/", {}),
        ("POST", "/api/v1/customers/", b""),
        (
            "POST",
            "/api/v1/segments/",
            {"name": "Big", "description": "d" * 100_000, "rule": {"all": ["vip"]}},
        ),
        ("POST", "/api/v1/customers/", {"name": "x" * 100_000}),
        # paths without the trailing slash, unknown paths
        ("POST", "/api/v1/customers", {"name": "Slashless"}),
        ("GET", f"/api/v1/customers/{c}/", None),
        ("GET", "/api/v1/nothing/here", None),
        ("GET", "/api/v2/customers/", None),
    ]


ADMIN_URLS = [
    "/admin/customers/customer/garbage/change/",
    "/admin/customers/customer/%00/change/",
    "/admin/tags/tag/garbage/change/",
    "/admin/tags/tag/%00/change/",
    "/admin/tags/tag/garbage/history/",
    "/admin/customers/customer/garbage/history/",
    "/admin/customers/customer/?status_label=garbage",
    "/admin/customers/customer/?tag=%00",
    "/admin/customers/customer/?segment=%00",
    "/admin/customers/customer/?created_at__gte=junk",
    "/admin/statuses/statuschange/?customer=garbage",
    "/admin/segments/segment/garbage/change/",
]


def test_no_request_of_the_probe_gets_a_server_error(world):
    api, admin = world["api"], world["admin"]
    answers = []
    for method, path, body in api_requests(world):
        if isinstance(body, bytes):
            response = api.generic(method, path, body, content_type="application/json")
        else:
            response = getattr(api, method.lower())(path, body, format="json")
        answers.append((method, path[:90], response.status_code))
        # every answer under /api/ is JSON in the error format when it is an error
        if response.status_code >= 400:
            assert set(json.loads(response.content)) == {"type", "errors"}, path
    restore = f"/admin/tags/tag/{'garbage'}/restore/"
    for url in [*ADMIN_URLS, restore]:
        answers.append(("GET", url, admin.get(url).status_code))
    answers.append(
        (
            "GET",
            "/healthz (foreign host)",
            Client().get("/healthz", HTTP_HOST="evil.example").status_code,
        )
    )
    server_errors = [answer for answer in answers if answer[2] >= 500]
    print(f"probe: {len(answers)} requests, {len(server_errors)} answers >= 500")
    assert server_errors == []
    # and the ones that must be refused are refused (nothing of the above is a 2xx but these;
    # the admin answers a bad filter with a redirect to ?e=1 and a bad id with a 404 or a redirect)
    accepted = {(m, p) for m, p, code in answers if code < 300}
    assert accepted == {
        ("GET", "/api/v1/customer_tags/?includes=customer_tag.metadata"),
        ("GET", f"/api/v1/customer_tags/{world['tag']}?includes=customer_tag.metadata"),
        ("POST", "/api/v1/customers"),
        ("GET", f"/api/v1/customers/{world['customer']}/"),
    }
