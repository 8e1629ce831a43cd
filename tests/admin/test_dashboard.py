"""The dashboard on the admin index: figures equal to the database's, at a fixed query cost."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from config.edge import dashboard as dashboard_module
from customers.models import Customer
from customers.services import customer_status_change
from segments import services as segment_services
from statuses.models import StatusLabel
from tags.models import Tag
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def boss():
    client = Client()
    client.force_login(UserFactory(username="boss", is_staff=True, is_superuser=True))
    return client


def grow(*, customers: int, tags: int, segments: int) -> None:
    """Customers holding a spread of tags, a deleted tag, a suspended customer, segments."""
    new_tags = [TagFactory() for _ in range(tags)]
    for i, customer in enumerate(CustomerFactory.create_batch(customers)):
        for tag in new_tags[: 1 + i % len(new_tags)]:
            TagAssignmentFactory(customer=customer, tag=tag)
    deleted = TagFactory(is_deleted=True, deleted_at=timezone.now())
    TagAssignmentFactory(tag=deleted)
    customer_status_change(
        customer=Customer.objects.first(),
        label=StatusLabel.objects.get(name="Suspended"),
        reason="r",
        source="API",
        actor=None,
    )
    for i in range(segments):
        segment_services.segment_save(
            segment=None,
            data={
                "name": f"S{Tag.objects.count()}-{i}",
                "rule": {"all": [new_tags[i % tags].name]},
            },
            actor=None,
        )


def bars_of(page, chart_id: str) -> list[tuple[str, int]]:
    chart = next(c for c in page.context["dashboard"]["charts"] if c["id"] == chart_id)
    return [(bar.label, bar.value) for bar in chart["bars"]]


def test_figures_are_the_data_the_test_wrote(boss):
    # given: four customers; gold on three, silver on two, bronze on one and expired on another,
    # a deleted tag on one; one customer suspended; two segments
    ann, bob, cy, dee = CustomerFactory.create_batch(4)
    gold, silver, bronze = (
        TagFactory(name="gold"),
        TagFactory(name="silver"),
        TagFactory(name="bronze"),
    )
    gone = TagFactory(name="gone", is_deleted=True, deleted_at=timezone.now())
    for customer in (ann, bob, cy):
        TagAssignmentFactory(customer=customer, tag=gold)
    for customer in (ann, bob):
        TagAssignmentFactory(customer=customer, tag=silver)
    TagAssignmentFactory(customer=ann, tag=bronze)
    TagAssignmentFactory(customer=dee, tag=bronze, expires_at=timezone.now() - timedelta(days=1))
    TagAssignmentFactory(customer=dee, tag=gone)
    customer_status_change(
        customer=dee, label=StatusLabel.objects.get(name="Suspended"), reason="r", source="API",
        actor=None,
    )  # fmt: skip
    for name, rule in (
        ("Gold", {"all": ["gold"]}),
        ("Silver not bronze", {"all": ["silver"], "none": ["bronze"]}),
    ):
        segment_services.segment_save(segment=None, data={"name": name, "rule": rule}, actor=None)
    # when the back office opens the admin index
    page = boss.get("/admin/")
    # then every figure is the one the data above implies
    assert page.status_code == 200
    dashboard = page.context["dashboard"]
    assert [(t.label, t.value) for t in dashboard["totals"]] == [
        ("Customers", 4),
        ("Live tags", 3),
        ("Deleted tags", 1),
        ("Segments", 2),
    ]
    assert bars_of(page, "dashboard-tags") == [("gold", 3), ("silver", 2), ("bronze", 1)]
    assert dict(bars_of(page, "dashboard-statuses")) == {"Active": 3, "Suspended": 1, "Inactive": 0}
    assert bars_of(page, "dashboard-segments") == [("Gold", 3), ("Silver not bronze", 1)]
    # each bar links to the customers it counts, and the widest is the largest
    top = dashboard["charts"][0]["bars"][0]
    assert top.percent == 100.0
    assert top.url == f"/admin/customers/customer/?tag={gold.pk}"
    assert f'href="{top.url}"'.encode() in page.content
    listed = boss.get(top.url)
    assert listed.context["cl"].result_count == 3


def test_costs_the_same_queries_for_small_and_large_data(boss, django_assert_max_num_queries):
    # session, user, the admin log, the segment rule cache (six): 9; the figures: 5;
    # then at most two per counted segment
    budget = 14 + 2 * dashboard_module.SEGMENTS_SHOWN
    counts = []
    for size in (1, 4):
        grow(customers=5 * size, tags=3 * size, segments=dashboard_module.SEGMENTS_SHOWN + size)
        cache.clear()
        with django_assert_max_num_queries(budget) as queries:
            page = boss.get("/admin/")
        counts.append(len(queries))
        assert len(bars_of(page, "dashboard-segments")) == dashboard_module.SEGMENTS_SHOWN
    assert counts[0] == counts[1]


def test_only_the_first_active_segments_are_counted_and_the_page_says_so(boss, monkeypatch):
    monkeypatch.setattr(dashboard_module, "SEGMENTS_SHOWN", 2)
    grow(customers=2, tags=2, segments=3)
    page = boss.get("/admin/")
    chart = page.context["dashboard"]["charts"][2]
    assert len(chart["bars"]) == 2
    assert chart["note"].startswith("The first 2 of 3 active segments by name")
    assert b"The first 2 of 3 active segments by name" in page.content


def test_staff_who_cannot_see_customers_get_no_dashboard():
    user = UserFactory(username="tokens", is_staff=True, perms=["api.view_apitoken"])
    client = Client()
    client.force_login(user)
    page = client.get("/admin/")
    assert page.status_code == 200
    assert page.context["dashboard"] is None
    assert b'id="dashboard"' not in page.content


def test_back_office_staff_see_the_dashboard():
    user = UserFactory(username="desk", is_staff=True)
    user.groups.add(Group.objects.get(name="Back office"))
    client = Client()
    client.force_login(user)
    page = client.get("/admin/")
    assert b'id="dashboard"' in page.content
