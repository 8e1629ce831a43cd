"""Garbage in admin URLs is a 4xx or a normal page, never a 500.

Every registered model's changelist gets every parameter its filters declare (and the date
hierarchy's, search, ordering and page) set to garbage and to a NUL; every object URL gets
garbage and a NUL as the id. The admin redirects a bad filter with ``?e=1``, answers 404 for an
unknown object, or shows the page with a warning.
"""

from urllib.parse import quote

import pytest
from django.contrib import admin
from django.test import Client

from customers.models import Customer
from customers.services import customer_status_change
from segments.services import segment_save
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db

GARBAGE = ["garbage", "\x00", "01j0000000000000000000000z", "-1", "1.5", "' OR 1=1 --"]
ID_GARBAGE = ["garbage", "%00", "%2500", "_00", "01J000000000000000000000000", "0",
              "01j00000000000000000000000"]  # fmt: skip


@pytest.fixture
def boss():
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory(username="boss", is_staff=True, is_superuser=True))
    # some rows, so filters list choices and the date hierarchy has dates
    customer = CustomerFactory()
    TagAssignmentFactory(customer=customer, tag=TagFactory(name="vip"))
    segment_save(segment=None, data={"name": "VIPs", "rule": {"all": ["vip"]}}, actor=None)
    customer_status_change(
        customer=customer, label="Inactive", reason="r", source="API", actor=None
    )
    return client


def changelists() -> list[str]:
    return [
        f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        for model in admin.site._registry
    ]


def declared_parameters(client: Client, url: str) -> set[str]:
    """The query parameters a changelist's filters, date hierarchy and list accept."""
    response = client.get(url)
    assert response.status_code == 200, url
    changelist = response.context["cl"]
    params = {"q", "o", "p", "all", "_to_field", "_popup"}
    for spec in changelist.filter_specs:
        params.update(spec.expected_parameters())
    if field := changelist.date_hierarchy:
        params.update(
            f"{field}__{part}" for part in ("year", "month", "day", "gte", "lt", "lte", "gt")
        )
    return params


def server_errors(client: Client, urls: list[str]) -> list[str]:
    failed = []
    for url in urls:
        status = client.get(url).status_code
        if status >= 500:
            failed.append(f"{url} → {status}")
    return failed


def no_server_error(client: Client, url: str) -> None:
    assert not server_errors(client, [url])


def test_every_changelist_filter_parameter_with_garbage(boss):
    urls = [
        f"{changelist}?{param}={quote(value)}"
        for changelist in changelists()
        for param in sorted(declared_parameters(boss, changelist))
        for value in GARBAGE
    ]
    assert not server_errors(boss, urls)


@pytest.mark.parametrize(
    "url",
    [
        "/admin/customers/customer/?status_label=garbage",
        "/admin/customers/customer/?status_label=%00",
        "/admin/customers/customer/?tag=%00",
        "/admin/customers/customer/?segment=%00",
        "/admin/customers/customer/?segment=garbage",
        "/admin/customers/customer/?change_set=%00",
        "/admin/customers/customer/?change_set=01J000000000000000000000000",
        "/admin/customers/customer/?change_set=' OR 1=1 --",
        "/admin/customers/customer/?status_label__id__exact=garbage",
        "/admin/customers/customer/?created_at__gte=junk",
        "/admin/customers/customer/?created_at__year=junk&created_at__month=13",
        "/admin/statuses/statuschange/?customer=garbage",
        "/admin/statuses/statuschange/?customer=%00",
        "/admin/statuses/statuschange/?to_label__id__exact=%00",
        "/admin/statuses/statuschange/?created_at__gte=junk",
        "/admin/statuses/statuschange/?effective_at__gte=junk",
        "/admin/statuses/statuslabel/?status__id__exact=garbage",
        "/admin/tags/tag/?is_active__exact=garbage",
        "/admin/customers/customer/?q=%00",
        "/admin/customers/customer/?o=garbage",
        "/admin/customers/customer/?p=garbage",
    ],
)
def test_the_reported_filter_urls(boss, url):
    no_server_error(boss, url)


def object_urls(changelist: str, object_id: str) -> list[str]:
    return [
        f"{changelist}{object_id}/change/",
        f"{changelist}{object_id}/history/",
        f"{changelist}{object_id}/delete/",
        f"{changelist}{object_id}/restore/",
        f"{changelist}{object_id}/progress/",
        f"{changelist}{object_id}/cancel/",
        f"{changelist}{object_id}/revert/",
        f"{changelist}{object_id}/",
    ]


def test_every_object_url_with_a_garbage_id(boss):
    urls = [
        url
        for changelist in changelists()
        for object_id in ID_GARBAGE
        for url in object_urls(changelist, object_id)
    ]
    assert not server_errors(boss, urls)


@pytest.mark.parametrize(
    "url",
    [
        "/admin/customers/customer/garbage/change/",
        "/admin/customers/customer/%00/change/",
        "/admin/customers/customer/garbage/history/",
        "/admin/customers/customer/%00/history/",
        "/admin/tags/tag/%00/change/",
        "/admin/tags/tag/garbage/history/",
        "/admin/tags/tag/%00/history/",
        "/admin/tags/tag/garbage/restore/",
        "/admin/tags/tag/%00/restore/",
    ],
)
def test_the_reported_object_urls(boss, url):
    no_server_error(boss, url)
    no_server_error(boss, url.replace("/change/", "/delete/"))


def test_restore_with_a_garbage_id_is_a_404_on_post(boss):
    for object_id in ("garbage", "%00"):
        response = boss.post(f"/admin/tags/tag/{object_id}/restore/")
        assert response.status_code == 404


def test_the_real_pages_still_work(boss):
    customer = Customer.objects.get()
    assert boss.get(f"/admin/customers/customer/{customer.pk}/change/").status_code == 200
    assert boss.get(f"/admin/customers/customer/{customer.pk}/history/").status_code == 200


@pytest.mark.parametrize("selected", ["garbage", "\x00", "01j00000000000000000000000"])
def test_actions_on_garbage_selections(boss, selected):
    """A forged selection (ids the list never showed) is no 500 either."""
    failed = []
    for changelist in changelists():
        actions = (
            boss.get(changelist)
            .context["cl"]
            .model_admin.get_actions(boss.get(changelist).wsgi_request)
        )
        for action in actions:
            response = boss.post(
                changelist, {"action": action, "_selected_action": [selected], "index": "0"}
            )
            if response.status_code >= 500:
                failed.append(f"{changelist} {action} → {response.status_code}")
    assert not failed
