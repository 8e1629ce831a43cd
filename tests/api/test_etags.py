"""ETag / If-Match on every single resource: customers, tags, segments, statuses, labels.

The If-Match check runs on the row locked inside the write's transaction (config.concurrency),
so of two writers holding the same ETag exactly one wins; the threaded version of that race
is in tests/reliability.
"""

from dataclasses import dataclass

import pytest

from customers.models import Customer
from segments.models import Segment
from segments.services import segment_save
from statuses.models import Status, StatusLabel
from statuses.services import label_save, status_save
from tags.models import Tag
from tests.conftest import make_client
from tests.factories import CustomerFactory, TagFactory

pytestmark = pytest.mark.django_db


@dataclass
class Resource:
    name: str
    url: str
    perms: tuple[str, ...]
    model: type
    make: object  # () -> instance
    field: str  # a text field PATCH can change
    delete_status: int


def _segment():
    TagFactory(name="vip")
    return segment_save(segment=None, data={"name": "VIPs", "rule": {"all": ["vip"]}}, actor=None)


def _status():
    return status_save(status=None, data={"name": "Gold"}, actor=None)


def _label():
    return label_save(
        label=None, data={"name": "Shiny", "status": Status.objects.get(name="Active")}, actor=None
    )


def crud(app: str, model: str) -> tuple[str, ...]:
    return tuple(f"{app}.{action}_{model}" for action in ("view", "add", "change", "delete"))


RESOURCES = [
    Resource("customer", "/api/v1/customers/", crud("customers", "customer"),
             Customer, CustomerFactory, "name", 204),
    Resource("customer_tag", "/api/v1/customer_tags/", crud("tags", "tag"),
             Tag, TagFactory, "description", 200),
    Resource("segment", "/api/v1/segments/", crud("segments", "segment"), Segment, _segment,
             "description", 204),
    Resource("status", "/api/v1/statuses/", crud("statuses", "status"), Status, _status,
             "description", 204),
    Resource("status_label", "/api/v1/status_labels/", crud("statuses", "statuslabel"),
             StatusLabel, _label, "description", 204),
]  # fmt: skip


@pytest.fixture(params=RESOURCES, ids=lambda r: r.name)
def resource(request):
    return request.param


def setup(resource: Resource):
    client = make_client(*resource.perms)
    obj = resource.make()
    return client, obj, f"{resource.url}{obj.pk}"


def stored(resource: Resource, obj) -> str:
    return getattr(resource.model.objects.get(pk=obj.pk), resource.field)


def put_body(resource: Resource, client, url: str, value: str) -> dict:
    """A full representation for PUT, with ``resource.field`` set to ``value``."""
    if resource.name == "segment":
        return {"name": "VIPs", "rule": {"all": ["vip"]}, resource.field: value}
    current = client.get(url).json()[resource.name]
    writable = WRITABLE[resource.name]
    return {k: v for k, v in current.items() if k in writable and v is not None} | {
        resource.field: value
    }


# What a client sends back on PUT: the read-only fields of a GET are refused in a body.
WRITABLE = {
    "customer": {"name", "email", "mobile", "reference_id"},
    "customer_tag": {"name", "is_active", "reference_id", "description"},
    "status": {"name", "description", "allowed_next"},
    "status_label": {"name", "status", "description", "allowed_next"},
}


def test_get_put_patch_answer_an_etag_that_changes_with_the_object(resource):
    client, obj, url = setup(resource)
    got = client.get(url)
    assert got.status_code == 200
    etag = got["ETag"]
    assert etag[0] == etag[-1] == '"'
    assert client.get(url)["ETag"] == etag  # stable while nothing changes
    patched = client.patch(url, {resource.field: "one"}, format="json", HTTP_IF_MATCH=etag)
    assert patched.status_code == 200, patched.content
    assert patched["ETag"] != etag
    assert client.get(url)["ETag"] == patched["ETag"]
    put = client.put(
        url, put_body(resource, client, url, "two"), format="json", HTTP_IF_MATCH=patched["ETag"]
    )
    assert put.status_code == 200, put.content
    assert put["ETag"] not in {etag, patched["ETag"]}
    assert stored(resource, obj) == "two"


def test_a_stale_if_match_is_a_412_and_writes_nothing(resource):
    client, obj, url = setup(resource)
    stale = client.get(url)["ETag"]
    assert client.patch(url, {resource.field: "first"}, format="json").status_code == 200
    for method, body in (
        (client.patch, {resource.field: "second"}),
        (client.put, put_body(resource, client, url, "second")),
    ):
        refused = method(url, body, format="json", HTTP_IF_MATCH=stale)
        assert refused.status_code == 412, refused.content
        assert refused.json()["errors"][0]["code"] == "precondition_failed"
    deleted = client.delete(url, HTTP_IF_MATCH=stale)
    assert deleted.status_code == 412
    assert stored(resource, obj) == "first"
    assert resource.model.objects.filter(pk=obj.pk).exists()


def test_star_and_weak_etags_are_accepted(resource):
    client, obj, url = setup(resource)
    etag = client.get(url)["ETag"]
    weak = client.patch(url, {resource.field: "weak"}, format="json", HTTP_IF_MATCH=f"W/{etag}")
    assert weak.status_code == 200, weak.content
    star = client.patch(url, {resource.field: "star"}, format="json", HTTP_IF_MATCH="*")
    assert star.status_code == 200
    listed = client.patch(
        url, {resource.field: "list"}, format="json", HTTP_IF_MATCH=f'"nope", {star["ETag"]}'
    )
    assert listed.status_code == 200
    assert stored(resource, obj) == "list"


def test_two_writers_with_the_same_etag_exactly_one_wins(resource):
    client, obj, url = setup(resource)
    etag = client.get(url)["ETag"]
    first = client.patch(url, {resource.field: "first"}, format="json", HTTP_IF_MATCH=etag)
    second = client.patch(url, {resource.field: "second"}, format="json", HTTP_IF_MATCH=etag)
    assert (first.status_code, second.status_code) == (200, 412)
    assert stored(resource, obj) == "first"


def test_delete_with_the_current_etag_goes_through(resource):
    client, obj, url = setup(resource)
    etag = client.get(url)["ETag"]
    response = client.delete(url, HTTP_IF_MATCH=etag)
    assert response.status_code == resource.delete_status, response.content
    if resource.delete_status == 200:  # a soft delete answers the object and its new ETag
        assert response["ETag"] != etag
    else:
        assert not resource.model.objects.filter(pk=obj.pk).exists()
