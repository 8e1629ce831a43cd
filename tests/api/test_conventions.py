"""The conventions every endpoint shares, exercised on the customers API."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import DatabaseError

from customers.models import Customer
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_list_envelope_and_cursor_pages(api):
    # given 5 customers
    created = [CustomerFactory() for _ in range(5)]
    # when reading pages of 2
    first = api.get("/api/v1/customers/?limit=2").json()
    second = api.get(first["next"]).json()
    third = api.get(second["next"]).json()
    # then pages follow ULID (creation) order with next/previous links
    assert set(first) == {"customers", "next", "previous"}
    assert first["previous"] is None
    ids = [c["id"] for page in (first, second, third) for c in page["customers"]]
    assert ids == sorted(c.id for c in created)
    assert third["next"] is None
    assert second["previous"] is not None


def test_limit_is_validated_1_to_200(api):
    Customer.objects.bulk_create([Customer(name=f"c{i}") for i in range(205)])
    assert len(api.get("/api/v1/customers/?limit=200").json()["customers"]) == 200
    assert len(api.get("/api/v1/customers/").json()["customers"]) == 50
    for bad, code in (("0", "min_value"), ("-1", "min_value"), ("abc", "invalid")):
        response = api.get(f"/api/v1/customers/?limit={bad}")
        assert response.status_code == 400
        assert response.json()["errors"][0]["attr"] == "limit"
        assert response.json()["errors"][0]["code"] == code
    # above the maximum is refused, not clamped behind a next link that keeps limit=500
    response = api.get("/api/v1/customers/?limit=500")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "max_value",
            "detail": "Ensure this value is less than or equal to 200.",
            "attr": "limit",
        }
    ]


@pytest.fixture
def everything(db):
    from tests.conftest import make_client

    client = make_client(username="root")
    client.user.is_superuser = True
    client.user.save()
    return client


PAGINATED_ROUTES = [
    "/api/v1/customers/",
    "/api/v1/customer_tags/",
    "/api/v1/segments/",
    "/api/v1/statuses/",
    "/api/v1/status_labels/",
    "/api/v1/customers/{customer}/status_history",
    "/api/v1/customer_tags/{tag}/history",
    "/api/v1/segments/{segment}/customers",
]


def _route(template: str) -> str:
    from segments.models import Segment
    from tests.factories import TagFactory

    customer = CustomerFactory()
    tag = TagFactory(name="vip")
    segment = Segment.objects.create(name="S", name_key="s")
    segment.tags_all.add(tag)
    return template.format(customer=customer.id, tag=tag.id, segment=segment.id)


@pytest.mark.parametrize("template", PAGINATED_ROUTES)
@pytest.mark.parametrize(
    ("limit", "code"), [("201", "max_value"), ("0", "min_value"), ("x", "invalid")]
)
def test_every_paginated_route_validates_limit(everything, template, limit, code):
    response = everything.get(_route(template), {"limit": limit})
    assert response.status_code == 400, response.json()
    assert response.json()["errors"][0]["attr"] == "limit"
    assert response.json()["errors"][0]["code"] == code


def _cursor(position: str) -> str:
    import base64
    from urllib.parse import quote

    return quote(base64.b64encode(position.encode()).decode())


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/customers/?cursor=not-a-cursor",
        f"/api/v1/customers/?cursor={_cursor('p=abc')}",
        f"/api/v1/customer_tags/?ordering=customer_count&cursor={_cursor('p=abc')}",
        f"/api/v1/customer_tags/?ordering=name&cursor={_cursor('p=%00')}",
        f"/api/v1/customer_tags/?ordering=name&cursor={_cursor('p=' + 'a' * 500)}",
        f"/api/v1/customer_tags/?ordering=created_at&cursor={_cursor('p=yesterday')}",
        f"/api/v1/customers/{{customer}}/status_history?cursor={_cursor('p=abc')}",
        f"/api/v1/customer_tags/{{tag}}/history?cursor={_cursor('p=abc')}",
        f"/api/v1/customer_tags/{{tag}}/history?cursor={_cursor('p=99999999999999999999999')}",
        f"/api/v1/segments/{{segment}}/customers?cursor={_cursor('p=abc')}",
    ],
)
def test_tampered_cursor_is_a_400_naming_it(everything, url):
    response = everything.get(_route(url))
    assert response.status_code == 400, response.content
    assert response.json()["errors"] == [
        {"code": "invalid_cursor", "detail": "Invalid cursor.", "attr": "cursor"}
    ]


def test_a_real_cursor_still_pages_by_every_ordering(everything):
    from tests.factories import TagFactory

    for name in ("a", "b", "c"):
        TagFactory(name=name)
    for ordering in ("name", "-name", "customer_count", "created_at", "id"):
        first = everything.get(f"/api/v1/customer_tags/?ordering={ordering}&limit=2").json()
        second = everything.get(first["next"])
        assert second.status_code == 200, (ordering, second.json())
        assert len(second.json()["customer_tags"]) == 1


def test_single_object_envelope_and_etag(api):
    customer = CustomerFactory(name="Ada")
    response = api.get(f"/api/v1/customers/{customer.id}")
    body = response.json()
    assert list(body) == ["customer"]
    assert body["customer"]["id"] == customer.id
    assert body["customer"]["name"] == "Ada"
    assert response["ETag"].startswith(f'"{customer.id}.')


@pytest.mark.parametrize(
    ("identify_by", "value"),
    [
        ("id", None),
        ("reference_id", "crm-42"),
        ("email", "Ada.Lovelace@Example.COM"),
        ("mobile", "+593 99-123 4567"),
    ],
)
def test_identify_by_each_identifier(api, identify_by, value):
    customer = CustomerFactory(
        reference_id="crm-42", email="ada.lovelace@example.com", mobile="593991234567"
    )
    key = value or customer.id.upper()  # ids are case-insensitive on input
    response = api.get(f"/api/v1/customers/{key}", {"identify_by": identify_by})
    assert response.status_code == 200, response.json()
    assert response.json()["customer"]["id"] == customer.id


def test_identify_by_unknown_value_and_bad_choice(api):
    CustomerFactory(reference_id="crm-42")
    assert api.get("/api/v1/customers/crm-43?identify_by=reference_id").status_code == 404
    assert api.get("/api/v1/customers/not-a-ulid").status_code == 404
    response = api.get("/api/v1/customers/crm-42?identify_by=shoe_size")
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "identify_by"


def test_includes_adds_the_relation_only_when_asked(api):
    customer = CustomerFactory(metadata={"tier": "gold"})
    plain = api.get(f"/api/v1/customers/{customer.id}").json()["customer"]
    included = api.get(f"/api/v1/customers/{customer.id}?includes=customer.metadata").json()
    assert "metadata" not in plain
    assert included["customer"]["metadata"] == {"tier": "gold"}
    listed = api.get("/api/v1/customers/", {"includes": "customer.metadata"}).json()
    assert listed["customers"][0]["metadata"] == {"tier": "gold"}
    bad = api.get(f"/api/v1/customers/{customer.id}?includes=customer.password")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["attr"] == "includes"


def test_unix_ms_turns_every_datetime_into_an_integer(api):
    customer = CustomerFactory()
    iso = api.get(f"/api/v1/customers/{customer.id}").json()["customer"]
    ms = api.get(f"/api/v1/customers/{customer.id}", HTTP_X_DATETIME_FORMAT="unix_ms").json()[
        "customer"
    ]
    assert iso["created_at"].endswith("Z")
    assert len(iso["created_at"]) == len("2024-08-04T14:22:01.123Z")
    assert ms["created_at"] == int(customer.created_at.timestamp() * 1000)
    assert isinstance(ms["updated_at"], int)
    listed = api.get("/api/v1/customers/", HTTP_X_DATETIME_FORMAT="unix_ms").json()
    assert isinstance(listed["customers"][0]["created_at"], int)


def test_validation_error_shape(api):
    response = api.post(
        "/api/v1/customers/", {"email": "not-an-email", "reference_id": "has space"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "type": "validation_error",
        "errors": [
            {
                "code": "invalid",
                "detail": "Use 1–50 characters of A–Z, a–z, 0–9, '_' and '-'.",
                "attr": "reference_id",
            },
            {"code": "invalid", "detail": "Enter a valid email address.", "attr": "email"},
        ],
    }
    assert Customer.objects.count() == 0


def test_malformed_json_is_a_400(api):
    response = api.generic(
        "POST", "/api/v1/customers/", '{"name": ', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "parse_error"


def test_wrong_content_type_is_a_415(api):
    response = api.generic("POST", "/api/v1/customers/", "name=x", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["errors"][0]["code"] == "unsupported_media_type"
    form = api.post("/api/v1/customers/", {"name": "x"}, format="multipart")
    assert form.status_code == 415
    assert Customer.objects.count() == 0


def test_oversized_body_is_a_413(api):
    body = json.dumps({"name": "x", "metadata": {"blob": "a" * 1_100_000}})
    response = api.generic("POST", "/api/v1/customers/", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["errors"][0]["code"] == "request_too_large"
    assert Customer.objects.count() == 0


@pytest.mark.parametrize(
    ("payload", "attr"),
    [
        ({"name": "a\x00b"}, "name"),
        ({"metadata": {"k\x00": "v"}}, "metadata"),
        ({"name": "\ud800"}, "name"),
        ({"metadata": {"list": ["ok", "a\x00"]}}, "metadata.list.1"),
    ],
)
def test_text_the_database_cannot_store_is_a_400(api, payload, attr):
    body = json.dumps(payload)  # escapes NUL as \u0000 and the lone surrogate as \ud800
    response = api.generic("POST", "/api/v1/customers/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert response.json()["errors"][0]["attr"] == attr
    assert Customer.objects.count() == 0


def test_nul_in_a_query_parameter_is_a_400(api):
    response = api.get("/api/v1/customers/?search=a%00b")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "unstorable"
    assert response.json()["errors"][0]["attr"] == "search"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/customers/a%00b@x.com?identify_by=email"),
        ("get", "/api/v1/customers/a%00b?identify_by=reference_id"),
        ("post", "/api/v1/customers/a%00b@x.com/tag?identify_by=email"),
        ("delete", "/api/v1/customers/a%00b@x.com/tags?identify_by=email&keys=vip"),
        ("get", "/api/v1/customer_tags/a%00b?identify_by=reference_id"),
    ],
)
def test_nul_in_the_path_is_a_400(everything, method, path):
    response = getattr(everything, method)(path, {} if method == "post" else None, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0] == {
        "code": "unstorable",
        "detail": "Contains a NUL character or an unpaired surrogate, which cannot be stored.",
        "attr": "id",
    }


@pytest.mark.parametrize(
    ("body", "attr", "detail"),
    [
        ({"id": "01hqjp31wcww3jhnagehc16r04", "name": "Ada"}, "id", "This field is read-only."),
        ({"created_at": "2001-01-01T00:00:00Z", "name": "Ada"}, "created_at", None),
        ({"name": "Ada", "nmae": "Ada"}, "nmae", None),
        ({"name": "Ada", "tags": ["vip"]}, "tags", "This field is read-only."),
    ],
)
def test_unknown_and_read_only_fields_are_refused(api, body, attr, detail):
    response = api.post("/api/v1/customers/", body)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert (error["code"], error["attr"]) == ("unknown_field", attr)
    if detail:
        assert error["detail"] == detail
    assert Customer.objects.count() == 0


@pytest.mark.parametrize("body", [{}, None, {"reason": "x"}, {"metadata": {"a": 1}}])
def test_an_empty_create_is_a_400_not_a_nameless_customer(api, body):
    if body is None:
        response = api.generic("POST", "/api/v1/customers/", "", content_type="application/json")
    else:
        response = api.post("/api/v1/customers/", body)
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["attr"] == "name"
    assert Customer.objects.count() == 0
    # one identifier is enough
    assert api.post("/api/v1/customers/", {"email": "a@example.com"}).status_code == 201


def test_a_patch_cannot_leave_a_customer_without_any_identifier(api):
    customer = CustomerFactory(name="Ada", email=None, mobile=None, reference_id=None)
    response = api.patch(f"/api/v1/customers/{customer.id}", {"name": ""})
    assert response.status_code == 400
    customer.refresh_from_db()
    assert customer.name == "Ada"


@pytest.mark.parametrize(
    ("body", "attr"),
    [
        ('{"name": "x", "metadata": {"n": 1e400}}', None),
        ('{"name": "x", "metadata": {"n": NaN}}', None),
        ('{"name": "x", "metadata": {"n": Infinity}}', None),
        ('{"name": "x", "metadata": {"n": -Infinity}}', None),
        ("[" * 1000 + "]" * 1000, None),
        ('{"name": "x", "metadata": ' + '{"a": ' * 100 + "1" + "}" * 100 + "}", None),
        ('{"name": "x", "name": "y"}', "name"),
        ('{"name": "x", "metadata": {"k": 1, "k": 2}}', "metadata.k"),
    ],
)
def test_json_that_python_would_bend_is_a_400(api, body, attr):
    response = api.generic("POST", "/api/v1/customers/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    error = response.json()["errors"][0]
    if attr is None:
        assert error["code"] == "parse_error"
    else:
        assert (error["code"], error["attr"]) == ("duplicate_key", attr)
    assert Customer.objects.count() == 0


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("metadata", "code"),
    [
        (_nested(11), "max_depth"),
        ({f"k{i}": i for i in range(101)}, "max_keys"),
        ({"a": {f"k{i}": i for i in range(101)}}, "max_keys"),
        ({"blob": "x" * 17_000}, "max_size"),
    ],
)
def test_free_form_json_is_bounded(api, metadata, code):
    response = api.post("/api/v1/customers/", {"name": "x", "metadata": metadata})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == code
    assert response.json()["errors"][0]["attr"] == "metadata"
    ok = {"name": "y", "metadata": {**_nested(10), **{f"k{i}": i for i in range(99)}}}
    assert api.post("/api/v1/customers/", ok).status_code == 201


def test_junk_includes_is_a_400_on_every_route(everything):
    customer = CustomerFactory()
    for method, path in [
        ("delete", f"/api/v1/customers/{customer.id}"),
        ("get", "/api/v1/segments/"),
        ("get", f"/api/v1/customers/{customer.id}/status_history"),
        ("put", f"/api/v1/customers/{customer.id}/status"),
    ]:
        response = getattr(everything, method)(f"{path}?includes=junk", {}, format="json")
        assert response.status_code == 400, (path, response.content)
        assert response.json()["errors"][0]["attr"] == "includes"
    assert Customer.objects.filter(pk=customer.pk).exists()


def test_a_delete_body_takes_only_a_bounded_reason(api):
    customer = CustomerFactory()
    url = f"/api/v1/customers/{customer.id}"
    unknown = api.delete(url, {"reason": "x", "why": "y"}, format="json")
    assert (unknown.status_code, unknown.json()["errors"][0]["attr"]) == (400, "why")
    long = api.delete(url, {"reason": "x" * 256}, format="json")
    assert (long.status_code, long.json()["errors"][0]["attr"]) == (400, "reason")
    assert Customer.objects.filter(pk=customer.pk).exists()


def test_if_match_mismatch_is_a_412_and_nothing_changes(api):
    customer = CustomerFactory(name="Before")
    etag = api.get(f"/api/v1/customers/{customer.id}")["ETag"]
    # someone else changes it
    first = api.patch(f"/api/v1/customers/{customer.id}", {"name": "Theirs"}, HTTP_IF_MATCH=etag)
    assert first.status_code == 200
    assert first["ETag"] != etag
    # our write with the old ETag is refused
    stale = api.patch(f"/api/v1/customers/{customer.id}", {"name": "Mine"}, HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    assert stale.json()["errors"][0]["code"] == "precondition_failed"
    assert api.delete(f"/api/v1/customers/{customer.id}", HTTP_IF_MATCH=etag).status_code == 412
    customer.refresh_from_db()
    assert customer.name == "Theirs"
    # the current ETag, or none at all, lets the write through
    current = api.get(f"/api/v1/customers/{customer.id}")["ETag"]
    ok = api.patch(f"/api/v1/customers/{customer.id}", {"name": "Mine"}, HTTP_IF_MATCH=current)
    assert ok.status_code == 200


def test_writes_record_who_and_why(api):
    response = api.post("/api/v1/customers/", {"name": "Ada", "reason": "signed up in store"})
    customer = Customer.objects.get(pk=response.json()["customer"]["id"])
    api.patch(f"/api/v1/customers/{customer.id}", {"name": "Ada L.", "reason": "typo"})
    api.patch(f"/api/v1/customers/{customer.id}", {"name": "Ada L."})  # no change, no history
    records = list(customer.history.order_by("history_id"))
    assert [(r.history_type, r.name, r.history_change_reason) for r in records] == [
        ("+", "Ada", "signed up in store"),
        ("~", "Ada L.", "typo"),
    ]
    assert {r.history_user_id for r in records} == {api.user.pk}


def test_delete_removes_and_keeps_history(api):
    customer = CustomerFactory()
    response = api.delete(
        f"/api/v1/customers/{customer.id}", {"reason": "GDPR request"}, format="json"
    )
    assert response.status_code == 204
    assert not Customer.objects.filter(pk=customer.pk).exists()
    last = Customer.history.filter(id=customer.id).latest("history_id")
    assert (last.history_type, last.history_change_reason) == ("-", "GDPR request")


def test_customer_list_query_count_is_constant(api, django_assert_max_num_queries):
    # the token with its user and permissions + the page + its current tags, whatever the
    # page size
    Customer.objects.bulk_create([Customer(name=f"c{i}") for i in range(5)])
    api.get("/api/v1/customers/")  # first use of the token records last_used_at
    with django_assert_max_num_queries(3):
        assert len(api.get("/api/v1/customers/?limit=100").json()["customers"]) == 5
    Customer.objects.bulk_create([Customer(name=f"d{i}") for i in range(95)])
    with django_assert_max_num_queries(3):
        assert len(api.get("/api/v1/customers/?limit=100").json()["customers"]) == 100


def test_healthz(client, monkeypatch):
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})

    def broken(*args, **kwargs):
        raise DatabaseError("down")

    monkeypatch.setattr("config.views.connection.cursor", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


def test_schema_and_docs_are_served_without_auth(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/api/v1/customers/{id}" in schema.json()["paths"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    assert b"cdn" not in docs.content.lower()
    assert client.get("/api/redoc/").status_code == 200


def test_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yml"))
    assert (tmp_path / "s.yml").read_text().startswith("openapi: 3")


def test_check_deploy_is_clean_with_production_settings():
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_ENV": "production",
        "SECRET_KEY": "x" * 20 + "-production-secret-key-that-is-long-enough-0123456789",
        "ALLOWED_HOSTS": "config.edge.example.com",
        "DEBUG": "0",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_datetimes_with_any_iso_offset_are_accepted(api):
    # PostgreSQL refuses offsets beyond ±15:59 that ISO 8601 allows: they are converted to UTC
    CustomerFactory()
    response = api.get("/api/v1/customers/?created_after=2020-01-01T00:00:00-20:04")
    assert response.status_code == 200
    assert len(response.json()["customers"]) == 1


def test_options_on_a_list_level_action_needs_the_view_permission(api, client_with):
    # OPTIONS describes the route (DRF's metadata): reading that needs the model's view permission
    response = api.options("/api/v1/customers/lookup/status")
    assert response.status_code == 200
    assert response.json()["name"]
    changer = client_with("statuses.change_customer_status")
    assert changer.options("/api/v1/customers/lookup/status").status_code == 403


def test_check_stored_data_reports_rows_the_api_would_refuse():
    from io import StringIO

    from django.core.management.base import CommandError

    from segments.models import Segment
    from tags.models import Tag
    from tests.factories import TagFactory

    # given valid rows of every resource
    CustomerFactory(name="Ada")
    tag = TagFactory(name="vip")
    segment = Segment.objects.create(name="S", name_key="s")
    segment.tags_all.add(tag)
    out = StringIO()
    call_command("check_stored_data", stdout=out)
    assert "would not validate" in out.getvalue()
    assert ", 0 would not validate" in out.getvalue()
    # when rows were written before today's rules
    poisoned = TagFactory(name="old")
    Tag.objects.filter(pk=poisoned.pk).update(metadata={"info": [{"key": "k"}], "list": []})
    Segment.objects.filter(pk=segment.pk).update(description="d" * 10_001)
    # then the command names each of them and fails
    out = StringIO()
    with pytest.raises(CommandError, match="2 would not validate"):
        call_command("check_stored_data", stdout=out)
    assert f"customer_tags {poisoned.pk}: metadata.info.0.value: This field is required." in (
        out.getvalue()
    )
    assert f"segments {segment.pk}: description: Ensure this field has no more than" in (
        out.getvalue()
    )
    # and the API still reads the poisoned tag, alone and in lists
    from tests.conftest import make_client

    reader = make_client("tags.view_tag")
    listed = reader.get("/api/v1/customer_tags/?includes=customer_tag.metadata")
    assert listed.status_code == 200
    one = reader.get(f"/api/v1/customer_tags/{poisoned.pk}?includes=customer_tag.metadata")
    assert one.json()["customer_tag"]["metadata"] == {"info": [{"key": "k"}], "list": []}


@pytest.mark.parametrize(
    ("url", "attr"),
    [
        ("/api/v1/customers/?tag=vip", "tag"),
        ("/api/v1/customers/?tags=vip&sort=name", "sort"),
        ("/api/v1/customer_tags/?deleted=true", "deleted"),
        ("/api/v1/segments/?name=S", "name"),
    ],
)
def test_an_unknown_list_parameter_is_a_400_not_everything(everything, url, attr):
    CustomerFactory()
    response = everything.get(url)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "unknown_field"
    assert response.json()["errors"][0]["attr"] == attr


def test_list_parameters_that_exist_still_work(everything):
    CustomerFactory()
    url = "/api/v1/customers/?limit=5&ordering=-created_at&includes=customer.metadata&format=json"
    assert everything.get(url).status_code == 200


def test_a_path_identifier_longer_than_any_column_is_a_404(everything):
    for identify_by in ("email", "reference_id", "mobile", "id"):
        response = everything.get(f"/api/v1/customers/{'a' * 300}?identify_by={identify_by}")
        assert response.status_code == 404


@pytest.mark.parametrize("size", ["0", "-5"])
def test_check_stored_data_refuses_a_batch_size_below_one(size):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        call_command("check_stored_data", "--batch-size", size)
