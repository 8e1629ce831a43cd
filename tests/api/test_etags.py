"""ETags and If-Match on customers and tags: every form of the header a client may send."""

import pytest

from customers.models import Customer
from tags.models import Tag
from tests.conftest import ALL_CUSTOMER_PERMS, ALL_TAG_PERMS, make_client
from tests.factories import CustomerFactory, TagFactory

pytestmark = pytest.mark.django_db

RESOURCES = {
    "customer": ("/api/v1/customers/", CustomerFactory, Customer, ALL_CUSTOMER_PERMS),
    "tag": ("/api/v1/customer_tags/", TagFactory, Tag, ALL_TAG_PERMS),
}


@pytest.fixture(params=sorted(RESOURCES))
def resource(request):
    """(client, url of one object, model instance) for each resource with ETags."""
    base, factory, _, perms = RESOURCES[request.param]
    instance = factory(name="Before")
    return make_client(*perms), f"{base}{instance.id}", instance


def stale_etag(client, url) -> str:
    """An ETag read before somebody else's write."""
    etag = client.get(url)["ETag"]
    assert client.patch(url, {"name": "Theirs"}, format="json").status_code == 200
    return etag


def test_if_match_star_lets_the_write_through_whatever_the_version(resource):
    client, url, instance = resource
    stale_etag(client, url)
    response = client.patch(url, {"name": "Mine"}, format="json", HTTP_IF_MATCH="*")
    assert response.status_code == 200
    instance.refresh_from_db()
    assert instance.name == "Mine"


def test_a_weak_current_etag_matches(resource):
    client, url, instance = resource
    etag = client.get(url)["ETag"]
    response = client.patch(url, {"name": "Mine"}, format="json", HTTP_IF_MATCH=f"W/{etag}")
    assert response.status_code == 200
    instance.refresh_from_db()
    assert instance.name == "Mine"


def test_a_list_of_etags_matches_when_one_is_current(resource):
    client, url, _ = resource
    etag = client.get(url)["ETag"]
    response = client.patch(
        url, {"name": "Mine"}, format="json", HTTP_IF_MATCH=f'"other.1", {etag}'
    )
    assert response.status_code == 200


def test_put_with_a_stale_etag_is_a_412_and_nothing_changes(resource):
    client, url, instance = resource
    etag = stale_etag(client, url)
    response = client.put(url, {"name": "Mine"}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 412
    assert response.json()["errors"][0]["code"] == "precondition_failed"
    instance.refresh_from_db()
    assert instance.name == "Theirs"


def test_put_with_the_current_etag_writes_and_returns_a_new_etag(resource):
    client, url, instance = resource
    etag = client.get(url)["ETag"]
    response = client.put(url, {"name": "Mine"}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 200
    assert response["ETag"] not in ("", etag)
    instance.refresh_from_db()
    assert instance.name == "Mine"


def test_two_writers_with_the_same_etag_exactly_one_wins(resource):
    client, url, instance = resource
    etag = client.get(url)["ETag"]
    first = client.patch(url, {"name": "First"}, format="json", HTTP_IF_MATCH=etag)
    second = client.patch(url, {"name": "Second"}, format="json", HTTP_IF_MATCH=etag)
    assert (first.status_code, second.status_code) == (200, 412)
    instance.refresh_from_db()
    assert instance.name == "First"
