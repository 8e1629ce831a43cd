"""The OpenAPI schema: shared error components, names tools can use, and the server doing what the
schema says (list parameters, bounds, ordering, rate-limit headers)."""

import itertools
import json

import pytest
import schemathesis

from tests.conftest import make_client


@pytest.fixture(scope="module")
def schema() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    return json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True)))


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


# -- errors --------------------------------------------------------------------------------


def test_errors_are_shared_components(schema):
    schemas = schema["components"]["schemas"]
    error_components = [name for name in schemas if "Error" in name or "BadRequest" in name]
    assert sorted(error_components) == [
        "BadRequestResponse",
        "ClientErrorResponse",
        "Error",
        "ServerErrorResponse",
        "ValidationErrorResponse",
    ]
    for path, method, operation in operations(schema):
        for status, response in operation["responses"].items():
            if status == "400":
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref.rsplit("/", 1)[-1] in {"BadRequestResponse", "ValidationErrorResponse"}
            elif status >= "401":
                assert response["$ref"].startswith("#/components/responses/"), (path, method)


def test_each_400_lists_its_attrs_and_codes(schema):
    tag_create = schema["paths"]["/api/v1/customer_tags/"]["post"]["responses"]["400"]
    errors = tag_create["x-validation-errors"]
    assert {"blank", "max_length", "required"} <= set(errors["name"])
    assert "unique" in errors["metadata.info.*.key"]
    assert "| `name` |" in tag_create["description"]
    for path in (
        "/api/v1/customer_tags/{id}/history",
        "/api/v1/customers/{id}/status_history",
        "/api/v1/segments/{id}/customers",
    ):
        errors = schema["paths"][path]["get"]["responses"]["400"]["x-validation-errors"]
        assert {"invalid", "min_value"} <= set(errors["limit"]), path


@pytest.fixture
def _keep_test_connection():
    """Calls through the WSGI handler would close the test's connection (see test_fuzz)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _tag():
    from tests.factories import TagFactory

    return TagFactory()


def _customer():
    from tests.factories import CustomerFactory

    return CustomerFactory()


def _segment():
    from segments.models import Segment

    return Segment.objects.create(name="S", name_key="s")


@pytest.mark.usefixtures("_keep_test_connection")
@pytest.mark.parametrize(
    ("path", "create"),
    [
        ("/api/v1/customer_tags/{id}/history", _tag),
        ("/api/v1/customers/{id}/status_history", _customer),
        ("/api/v1/segments/{id}/customers", _segment),
    ],
)
def test_limit_errors_on_sub_lists_match_the_schema(db, path, create):
    """``?limit=0`` answers ``attr: "limit"``, which the documented 400 allows (was ST108)."""
    from config.wsgi import application

    loaded = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    client = make_client(username="reader")
    client.user.is_superuser = True
    client.user.save()
    case = loaded[path]["GET"].Case(path_parameters={"id": create().id}, query={"limit": 0})
    response = case.call(headers={"Authorization": f"Bearer {client.raw_token}"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "limit"
    case.validate_response(response)


# -- names and shapes ----------------------------------------------------------------------


def test_operations_have_summaries_and_distinct_ids(schema):
    ids = []
    for path, method, operation in operations(schema):
        assert operation.get("summary"), (path, method)
        assert "Subclasses implement" not in operation.get("description", "")
        ids.append(operation["operationId"])
    assert len(ids) == len(set(ids))
    close = [(a, b) for a, b in itertools.combinations(ids, 2) if edit_distance(a, b) <= 1]
    assert close == []


def test_component_names_and_nullable(schema):
    names = schema["components"]["schemas"]
    assert not [name for name in names if "RequestRequest" in name]
    assert {"XDatetimeFormat", "CustomerIdentifyBy", "CustomerInclude", "TagEnvelope"} <= set(names)
    assert [node for node in walk(schema) if node.get("nullable") and "type" not in node] == []


def test_restore_answers_the_envelope(schema):
    restore = schema["paths"]["/api/v1/customer_tags/{id}/restore"]["post"]
    ref = restore["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/TagEnvelope"
    assert "ETag" in restore["responses"]["200"]["headers"]


def test_request_bodies_are_closed_except_free_form_json(schema):
    schemas = schema["components"]["schemas"]
    assert schemas["CustomerTagRequest"]["additionalProperties"] is False
    assert schemas["TagMetadataRequest"]["additionalProperties"] is False
    assert schemas["CustomerRequest"]["properties"]["metadata"]["additionalProperties"] == {}
    bulk = schemas["BulkTagRequest"]
    assert "tags_to_add" in bulk["properties"]
    assert "anyOf" not in bulk  # under allOf, so generated clients keep one model


def test_headers_are_declared(schema):
    for path, method, operation in operations(schema):
        for status, response in operation["responses"].items():
            if status == "414":  # gunicorn's, before the API
                continue
            if "$ref" in response:
                response = schema["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
            assert "X-Request-ID" in response["headers"], (path, method, status)
            if status[0] in "24":
                assert "RateLimit-Limit" in response["headers"], (path, method, status)
    throttled = schema["components"]["responses"]["TooManyRequests"]
    assert "Retry-After" in throttled["headers"]


def test_list_parameters_are_comma_separated_arrays(schema):
    found = set()
    for _, _, operation in operations(schema):
        for param in operation.get("parameters", []):
            if param["name"] in {"tags", "tags_any", "tags_none", "keys", "includes"}:
                assert param["schema"]["type"] == "array", param
                assert (param["style"], param["explode"]) == ("form", False), param
                found.add(param["name"])
            if param["name"] == "ordering":
                assert "-name" in json.dumps(param["schema"]) or "$ref" in param["schema"]
    assert found == {"tags", "tags_any", "tags_none", "keys", "includes"}


def test_create_responses_link_to_follow_up_operations(schema):
    created = schema["paths"]["/api/v1/customer_tags/"]["post"]["responses"]["201"]["links"]
    assert created["TagRestore"] == {
        "operationId": "tag_restore",
        "parameters": {"id": "$response.body#/customer_tag/id"},
    }
    customer = schema["paths"]["/api/v1/customers/"]["post"]["responses"]["201"]["links"]
    assert {"CustomerTagsChange", "CustomerStatusSetByLookup"} <= set(customer)
    segment = schema["paths"]["/api/v1/segments/"]["post"]["responses"]["201"]["links"]
    assert {"SegmentCount", "SegmentMembers"} <= set(segment)


# -- the server does what the schema says ---------------------------------------------------


@pytest.fixture
def admin_api(db):
    client = make_client(username="admin-api")
    client.user.is_superuser = True
    client.user.save()
    return client


def test_list_filters_take_comma_joined_and_repeated_values(admin_api):
    from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory

    vip, gold = TagFactory(name="vip"), TagFactory(name="gold")
    both, only_vip = CustomerFactory(), CustomerFactory()
    for customer, tag in ((both, vip), (both, gold), (only_vip, vip)):
        TagAssignmentFactory(customer=customer, tag=tag)

    joined = admin_api.get("/api/v1/customers/?tags=vip,gold").json()["customers"]
    repeated = admin_api.get("/api/v1/customers/?tags=gold&tags=vip").json()["customers"]

    assert [c["id"] for c in joined] == [both.id]
    assert [c["id"] for c in repeated] == [both.id]


def test_untag_keys_may_be_repeated(admin_api):
    from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory

    customer = CustomerFactory()
    for name in ("vip", "gold", "new"):
        TagAssignmentFactory(customer=customer, tag=TagFactory(name=name))

    response = admin_api.delete(f"/api/v1/customers/{customer.id}/tags?keys=vip&keys=gold,new")

    assert response.status_code == 200
    assert response.json()["customer"]["tags"] == []


def test_unknown_ordering_is_a_400(admin_api):
    response = admin_api.get("/api/v1/customer_tags/?ordering=secret_field")

    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "ordering"
    assert admin_api.get("/api/v1/customer_tags/?ordering=-name").status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "search=" + "x" * 1001,
        "tags=" + ",".join(["t"] * 101),
        "tags=" + "x" * 101,
    ],
)
def test_query_values_over_the_documented_bounds_are_400(admin_api, query):
    response = admin_api.get(f"/api/v1/customers/?{query}")

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "max_length"


def test_account_id_over_its_column_is_a_400(admin_api):
    from tests.factories import CustomerFactory

    customer = CustomerFactory(email="a@example.com")

    response = admin_api.put(
        "/api/v1/customers/lookup/status?source=API&identifierName=email"
        f"&identifierValue={customer.email}&accountId={'9' * 101}",
        {"reason": "test", "label": "Inactive"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "accountId"


def test_descriptions_and_label_lists_are_bounded(admin_api):
    too_long = admin_api.post(
        "/api/v1/segments/",
        {"name": "Long", "description": "x" * 10_001, "rule": {"all": ["vip"]}},
        format="json",
    )
    too_many = admin_api.post(
        "/api/v1/statuses/", {"name": "Many", "allowed_next": ["Active"] * 101}, format="json"
    )

    assert too_long.status_code == 400
    assert too_long.json()["errors"][0]["attr"] == "description"
    assert too_many.status_code == 400
    assert too_many.json()["errors"][0] == {
        "code": "max_length",
        "detail": "Give at most 100 labels.",
        "attr": "allowed_next",
    }


def test_rate_limit_headers_are_sent(db, settings):
    settings.API_THROTTLE_RATE = "2/min"
    client = make_client("customers.view_customer", username="counted")

    first = client.get("/api/v1/customers/")
    second = client.get("/api/v1/customers/")
    third = client.get("/api/v1/customers/")

    assert (first["RateLimit-Limit"], first["RateLimit-Remaining"]) == ("2", "1")
    assert second["RateLimit-Remaining"] == "0"
    assert third.status_code == 429
    assert third["RateLimit-Remaining"] == "0"
    assert 0 < int(third["RateLimit-Reset"]) <= 60
    assert 0 < int(third["Retry-After"]) <= 60


def test_no_rate_limit_headers_when_throttling_is_off(db):
    client = make_client("customers.view_customer", username="uncounted")

    response = client.get("/api/v1/customers/")

    assert "RateLimit-Limit" not in response


def test_label_lists_must_be_json_arrays(admin_api):
    response = admin_api.post(
        "/api/v1/statuses/", {"name": "Object", "allowed_next": {"Active": 1}}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "allowed_next"


def test_the_security_schemes_are_what_clients_send():
    # generated clients put exactly this in the Authorization header: Bearer for tokens (a
    # schema of its own: the module's is built once, in whichever test asks first)
    from drf_spectacular.generators import SchemaGenerator

    schemes = SchemaGenerator().get_schema(request=None, public=True)["components"][
        "securitySchemes"
    ]
    assert schemes["tokenAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <token>`; `Token <token>` is accepted too.",
    }
    assert schemes["basicAuth"]["scheme"] == "basic"
