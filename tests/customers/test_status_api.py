"""The customer status routes (their own viewset under /customers/): the lookup's query
parameters as Capillary answers them, and what the schema tells about the {id} of every
customer route."""

import json
from urllib.parse import urlencode

import pytest
from drf_spectacular.generators import SchemaGenerator

from statuses.models import StatusChange
from tests.conftest import make_client
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
LOOKUP = "/api/v1/customers/lookup/status"
BODY = {"reason": "r", "label": "Suspended"}
VALID = {"source": "API", "identifierName": "mobile", "identifierValue": "1234512345"}


@pytest.fixture
def changer(db):
    return make_client("customers.view_customer", "statuses.change_customer_status")


def lookup(client, params, body=BODY):
    return client.put(f"{LOOKUP}?{urlencode(params)}", body, format="json")


def only_error(response) -> tuple[str, str, str]:
    (error,) = response.json()["errors"]
    return error["attr"], error["code"], error["detail"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # every parameter wrong: the source is named, alone
        (
            {"source": "SHOP", "identifierName": "phone", "accountId": "a" * 101, "async": "x"},
            ("source", "8003"),
        ),
        # then the identifier's name, then its value, then the account, then async
        ({**VALID, "identifierName": "Mobile", "async": "x"}, ("identifierName", "8013")),
        ({**VALID, "identifierValue": " " * 300, "async": "x"}, ("identifierValue", "8013")),
        ({**VALID, "identifierValue": "1" * 255, "async": "x"}, ("identifierValue", "max_length")),
        ({**VALID, "accountId": "a" * 101, "async": "x"}, ("accountId", "max_length")),
        ({**VALID, "async": ""}, ("async", "invalid")),
        ({**VALID, "async": "True"}, ("async", "invalid")),
    ],
)
def test_the_lookup_names_the_first_refused_parameter_only(changer, params, expected):
    # given a customer the valid parameters would find
    CustomerFactory(mobile="1234512345")
    # when the query holds refusals (and the body one more)
    response = lookup(changer, params, body={"label": "Suspended"})
    # then one error, the first in Capillary's order, and nothing recorded
    assert response.status_code == 400
    assert only_error(response)[:2] == expected
    assert StatusChange.objects.count() == 0


def test_the_lookup_messages_are_capillarys(changer):
    assert only_error(lookup(changer, {})) == (
        "source",
        "8003",
        "Invalid source: must be one of INSTORE, ECOMMERCE, MOBILE_APP, WEB, CALL_CENTER, API.",
    )
    assert only_error(lookup(changer, {"source": "API", "identifierName": ""})) == (
        "identifierName",
        "8013",
        "Lookup, invalid identifier passed: identifierName must be one of mobile, email, "
        "externalId, id.",
    )
    assert only_error(lookup(changer, {**VALID, "identifierValue": ""})) == (
        "identifierValue",
        "8013",
        "Lookup, invalid identifier passed: identifierValue is missing.",
    )
    assert only_error(lookup(changer, {**VALID, "accountId": "a" * 101})) == (
        "accountId",
        "max_length",
        "Ensure this field has no more than 100 characters.",
    )


def test_the_last_of_a_repeated_parameter_counts(changer):
    CustomerFactory(mobile="1234512345")
    query = urlencode([("source", "SHOP"), *VALID.items()])  # VALID's source comes last
    assert changer.put(f"{LOOKUP}?{query}", BODY, format="json").status_code == 200
    query = urlencode([*VALID.items(), ("source", "SHOP")])
    assert only_error(changer.put(f"{LOOKUP}?{query}", BODY, format="json"))[:2] == (
        "source",
        "8003",
    )


def test_the_identifier_is_looked_up_as_sent_and_the_account_kept_as_sent(changer):
    # given a customer with a reference id
    customer = CustomerFactory(reference_id="ref-1")
    by_reference = {"source": "WEB", "identifierName": "externalId"}
    # when the value comes with a space, it finds nobody
    spaced = lookup(changer, {**by_reference, "identifierValue": " ref-1"})
    assert (spaced.status_code, only_error(spaced)[1]) == (404, "8015")
    # when it comes as stored, with an account of exactly 100 characters padded by spaces
    account = " " + "a" * 98 + " "
    found = lookup(
        changer,
        {**by_reference, "identifierValue": "ref-1", "accountId": account, "async": "false"},
    )
    # then the change is the customer's and keeps the account untouched
    assert found.status_code == 200
    change = StatusChange.objects.get(pk=found.json()["createdId"])
    assert (change.customer_id, change.account_id, change.source) == (customer.id, account, "WEB")


def test_every_customer_id_excludes_the_list_level_routes_of_both_viewsets():
    # The status routes and the other customer routes are two viewsets on one prefix: each
    # {id} pattern still refuses both list-level paths (bulk_tag, lookup).
    schema = json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True)))
    patterns = {
        path: parameter["schema"]["pattern"]
        for path, item in schema["paths"].items()
        if path.startswith("/api/v1/customers/{id}")
        for operation in item.values()
        for parameter in operation.get("parameters", [])
        if parameter["name"] == "id"
    }
    assert {"/api/v1/customers/{id}/status", "/api/v1/customers/{id}"} <= set(patterns)
    assert set(patterns.values()) == {"^(?!(?:bulk_tag|lookup)$)[^/]+$"}
