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


def test_limit_is_clamped_to_200_and_validated(api):
    Customer.objects.bulk_create([Customer(name=f"c{i}") for i in range(205)])
    assert len(api.get("/api/v1/customers/?limit=1000").json()["customers"]) == 200
    assert len(api.get("/api/v1/customers/").json()["customers"]) == 50
    for bad in ("0", "-1", "abc"):
        response = api.get(f"/api/v1/customers/?limit={bad}")
        assert response.status_code == 400
        assert response.json()["errors"][0]["attr"] == "limit"


def test_tampered_cursor_is_a_404(api):
    response = api.get("/api/v1/customers/?cursor=not-a-cursor")
    assert response.status_code == 404
    assert response.json()["errors"] == [
        {"code": "not_found", "detail": "Invalid cursor", "attr": None}
    ]


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
    "payload",
    [{"name": "a\x00b"}, {"metadata": {"k\x00": "v"}}, {"name": "\ud800"}],
)
def test_text_the_database_cannot_store_is_a_400(api, payload):
    body = json.dumps(payload)  # escapes NUL as \u0000 and the lone surrogate as \ud800
    response = api.generic("POST", "/api/v1/customers/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert response.json()["errors"][0]["attr"] == next(iter(payload))
    assert Customer.objects.count() == 0


def test_nul_in_a_query_parameter_is_a_400(api):
    response = api.get("/api/v1/customers/?search=a%00b")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "parse_error"


def test_read_only_fields_sent_by_a_client_are_ignored(api):
    response = api.post(
        "/api/v1/customers/",
        {"id": "01hqjp31wcww3jhnagehc16r04", "created_at": "2001-01-01T00:00:00Z", "name": "Ada"},
    )
    assert response.status_code == 201
    body = response.json()["customer"]
    assert body["id"] != "01hqjp31wcww3jhnagehc16r04"
    assert not body["created_at"].startswith("2001")
    customer = Customer.objects.get()
    assert customer.id == body["id"]
    assert customer.created_at.year != 2001


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
    # token + permissions + the page + its current tags, whatever the page size
    Customer.objects.bulk_create([Customer(name=f"c{i}") for i in range(5)])
    api.get("/api/v1/customers/")  # first use of the token records last_used_at
    with django_assert_max_num_queries(4):
        assert len(api.get("/api/v1/customers/?limit=100").json()["customers"]) == 5
    Customer.objects.bulk_create([Customer(name=f"d{i}") for i in range(95)])
    with django_assert_max_num_queries(4):
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
        "ALLOWED_HOSTS": "tagdesk.example.com",
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
