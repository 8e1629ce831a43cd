"""Every operation of the schema × {no credentials, a token lacking a permission, a token with
exactly the documented permissions}.

The table below is the documentation of who may call what; it is written out by hand (not
derived from the viewsets), so a permission dropped from a view makes a test here fail, and an
operation added to the schema without a row makes ``test_the_matrix_covers_every_operation``
fail.
"""

import pytest
from django.contrib.auth.models import Permission
from django.db import transaction
from rest_framework.test import APIClient

from config.events.services import event_record
from config.webhooks.models import WebhookDelivery
from config.webhooks.services import webhook_endpoint_create
from segments.models import Segment
from statuses.models import Status, StatusLabel
from tags.models import ChangeSet
from tests.conftest import make_client
from tests.factories import CustomerFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db

CUSTOMERS = "/api/v1/customers"
TAGS = "/api/v1/customer_tags"
SEGMENTS = "/api/v1/segments"
STATUSES = "/api/v1/statuses"
LABELS = "/api/v1/status_labels"
EVENTS = "/api/v1/events"
CHANGE_SETS = "/api/v1/change_sets"
WEBHOOKS = "/api/v1/webhook_endpoints"
DELIVERIES = "/api/v1/webhook_deliveries"

MATRIX: dict[tuple[str, str], tuple[str, ...]] = {
    # customers
    ("GET", f"{CUSTOMERS}/"): ("customers.view_customer",),
    ("POST", f"{CUSTOMERS}/"): ("customers.add_customer",),
    ("GET", f"{CUSTOMERS}/{{id}}"): ("customers.view_customer",),
    ("PUT", f"{CUSTOMERS}/{{id}}"): ("customers.change_customer",),
    ("PATCH", f"{CUSTOMERS}/{{id}}"): ("customers.change_customer",),
    ("DELETE", f"{CUSTOMERS}/{{id}}"): ("customers.delete_customer",),
    ("POST", f"{CUSTOMERS}/{{id}}/tag"): ("customers.tag_customer",),
    ("GET", f"{CUSTOMERS}/{{id}}/tags"): ("customers.view_customer",),
    ("DELETE", f"{CUSTOMERS}/{{id}}/tags"): ("customers.tag_customer",),
    ("POST", f"{CUSTOMERS}/bulk_tag"): ("customers.tag_customer",),
    ("PUT", f"{CUSTOMERS}/{{id}}/status"): ("statuses.change_customer_status",),
    ("PUT", f"{CUSTOMERS}/lookup/status"): ("statuses.change_customer_status",),
    ("GET", f"{CUSTOMERS}/{{id}}/status_history"): ("customers.view_customer",),
    # customer tags
    ("GET", f"{TAGS}/"): ("tags.view_tag",),
    ("POST", f"{TAGS}/"): ("tags.add_tag",),
    ("GET", f"{TAGS}/{{id}}"): ("tags.view_tag",),
    ("PUT", f"{TAGS}/{{id}}"): ("tags.change_tag",),
    ("PATCH", f"{TAGS}/{{id}}"): ("tags.change_tag",),
    ("DELETE", f"{TAGS}/{{id}}"): ("tags.delete_tag",),
    ("POST", f"{TAGS}/{{id}}/restore"): ("tags.restore_tag",),
    ("GET", f"{TAGS}/{{id}}/history"): ("tags.view_tag",),
    # segments: members and previews show customers, so they need both view permissions
    ("GET", f"{SEGMENTS}/"): ("segments.view_segment",),
    ("POST", f"{SEGMENTS}/"): ("segments.add_segment",),
    ("GET", f"{SEGMENTS}/{{id}}"): ("segments.view_segment",),
    ("PUT", f"{SEGMENTS}/{{id}}"): ("segments.change_segment",),
    ("PATCH", f"{SEGMENTS}/{{id}}"): ("segments.change_segment",),
    ("DELETE", f"{SEGMENTS}/{{id}}"): ("segments.delete_segment",),
    ("GET", f"{SEGMENTS}/{{id}}/count"): ("segments.view_segment",),
    ("GET", f"{SEGMENTS}/{{id}}/customers"): ("segments.view_segment", "customers.view_customer"),
    ("POST", f"{SEGMENTS}/preview"): ("segments.view_segment", "customers.view_customer"),
    # statuses and labels
    ("GET", f"{STATUSES}/"): ("statuses.view_status",),
    ("POST", f"{STATUSES}/"): ("statuses.add_status",),
    ("GET", f"{STATUSES}/{{id}}"): ("statuses.view_status",),
    ("PUT", f"{STATUSES}/{{id}}"): ("statuses.change_status",),
    ("PATCH", f"{STATUSES}/{{id}}"): ("statuses.change_status",),
    ("DELETE", f"{STATUSES}/{{id}}"): ("statuses.delete_status",),
    ("GET", f"{LABELS}/"): ("statuses.view_statuslabel",),
    ("POST", f"{LABELS}/"): ("statuses.add_statuslabel",),
    ("GET", f"{LABELS}/{{id}}"): ("statuses.view_statuslabel",),
    ("PUT", f"{LABELS}/{{id}}"): ("statuses.change_statuslabel",),
    ("PATCH", f"{LABELS}/{{id}}"): ("statuses.change_statuslabel",),
    ("DELETE", f"{LABELS}/{{id}}"): ("statuses.delete_statuslabel",),
    # the change feed: read-only
    ("GET", f"{EVENTS}/"): ("events.view_event",),
    ("GET", f"{EVENTS}/{{id}}"): ("events.view_event",),
    # change-sets: the record of bulk changes, read-only
    ("GET", f"{CHANGE_SETS}/"): ("tags.view_changeset",),
    ("GET", f"{CHANGE_SETS}/{{id}}"): ("tags.view_changeset",),
    # a revert writes customers' tags as well
    ("POST", f"{CHANGE_SETS}/{{id}}/revert"): ("tags.change_changeset", "customers.tag_customer"),
    ("POST", f"{CHANGE_SETS}/{{id}}/cancel"): ("tags.change_changeset",),
    # webhooks: the deliveries list shows the deliveries too; rotating a secret changes it
    ("GET", f"{WEBHOOKS}/"): ("webhooks.view_webhookendpoint",),
    ("POST", f"{WEBHOOKS}/"): ("webhooks.add_webhookendpoint",),
    ("GET", f"{WEBHOOKS}/{{id}}"): ("webhooks.view_webhookendpoint",),
    ("PUT", f"{WEBHOOKS}/{{id}}"): ("webhooks.change_webhookendpoint",),
    ("PATCH", f"{WEBHOOKS}/{{id}}"): ("webhooks.change_webhookendpoint",),
    ("DELETE", f"{WEBHOOKS}/{{id}}"): ("webhooks.delete_webhookendpoint",),
    ("POST", f"{WEBHOOKS}/{{id}}/rotate_secret"): ("webhooks.change_webhookendpoint",),
    ("GET", f"{WEBHOOKS}/{{id}}/deliveries"): (
        "webhooks.view_webhookendpoint",
        "webhooks.view_webhookdelivery",
    ),
    ("POST", f"{DELIVERIES}/{{id}}/retry"): ("webhooks.change_webhookdelivery",),
}
OPERATIONS = sorted(MATRIX)
# Every permission of the domain apps: "all but one" tokens are built from these.
DOMAIN_APPS = ("customers", "tags", "segments", "statuses", "events", "webhooks")


def operation_id(operation: tuple[str, str]) -> str:
    method, path = operation
    return f"{method} {path}"


@pytest.fixture
def objects() -> dict[str, str]:
    """One existing object per resource, so a permitted call reaches the view's own logic."""
    status = Status.objects.create(name="Matrix")
    label = StatusLabel.objects.create(name="Matrix label", status=status)
    segment = Segment.objects.create(name="Matrix segment")
    segment.tags_all.add(TagFactory(name="matrix-rule"))
    with transaction.atomic():
        event = event_record(type="tag.created", data={"name": "matrix"})
    endpoint, _ = webhook_endpoint_create(data={"url": "http://127.0.0.1:9/", "types": ["*"]})
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event_id=event.id, event_type=event.type
    )
    return {
        CUSTOMERS: CustomerFactory().id,
        TAGS: TagFactory().id,
        SEGMENTS: segment.id,
        STATUSES: status.id,
        LABELS: label.id,
        EVENTS: event.id,
        CHANGE_SETS: ChangeSet.objects.create(kind="retag").id,
        WEBHOOKS: endpoint.id,
        DELIVERIES: delivery.id,
    }


def url_of(operation: tuple[str, str], objects: dict[str, str]) -> str:
    _, path = operation
    for prefix, object_id in objects.items():
        if path.startswith(prefix + "/"):
            return path.replace("{id}", str(object_id))
    raise AssertionError(path)


def call(client: APIClient, operation: tuple[str, str], objects: dict[str, str]):
    method, _ = operation
    url = url_of(operation, objects)
    if operation == ("DELETE", f"{CUSTOMERS}/{{id}}/tags"):
        url += "?keys=vip"
    if operation == ("PUT", f"{CUSTOMERS}/lookup/status"):
        url += "?source=API&identifierName=id&identifierValue=" + str(objects[CUSTOMERS])
    return getattr(client, method.lower())(url, {}, format="json")


def test_the_matrix_covers_every_operation_of_the_schema():
    # given the published schema
    schema = APIClient().get("/api/schema/?format=json").json()
    # when its operations are listed
    operations = {
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    # then the matrix has exactly one row for each of them
    assert operations == set(MATRIX)
    assert len(operations) == 57


@pytest.mark.parametrize("operation", OPERATIONS, ids=operation_id)
def test_no_credentials_is_a_401(operation, objects):
    response = call(APIClient(), operation, objects)
    assert response.status_code == 401, response.content
    assert response.json()["errors"][0]["code"] == "not_authenticated"


@pytest.mark.parametrize("operation", OPERATIONS, ids=operation_id)
def test_a_token_lacking_a_documented_permission_is_a_403(operation, objects):
    every = [
        f"{p.content_type.app_label}.{p.codename}"
        for p in Permission.objects.filter(content_type__app_label__in=DOMAIN_APPS)
    ]
    for missing in MATRIX[operation]:
        # given a token holding every domain permission except one the operation needs
        client = make_client(*(perm for perm in every if perm != missing))
        # when it calls the operation
        response = call(client, operation, objects)
        # then it is refused before anything happens
        assert response.status_code == 403, (missing, response.content)
        assert response.json()["errors"][0]["code"] == "permission_denied"


@pytest.mark.parametrize("operation", OPERATIONS, ids=operation_id)
def test_a_token_with_exactly_the_documented_permissions_is_let_in(operation, objects):
    client = make_client(*MATRIX[operation])
    response = call(client, operation, objects)
    assert response.status_code not in (401, 403), response.content


def test_a_session_post_without_a_csrf_token_is_refused():
    # given a user logged in with a session (the browsable API), allowed to create customers
    user = UserFactory(perms=["customers.add_customer"])
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    # when it posts without the CSRF token
    response = client.post(f"{CUSTOMERS}/", {"name": "Ada"}, format="json")
    # then the write is refused and nothing is created
    assert response.status_code == 403
    assert "CSRF" in response.json()["errors"][0]["detail"]
    from customers.models import Customer

    assert not Customer.objects.exists()


def test_a_session_post_with_the_csrf_token_is_accepted():
    user = UserFactory(perms=["customers.add_customer"])
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/admin/login/")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = client.post(f"{CUSTOMERS}/", {"name": "Ada"}, format="json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201
