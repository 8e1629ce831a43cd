"""Segments: rules, membership in SQL and per customer, the API and the tag response."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customers.models import Customer
from segments.models import Segment
from segments.rules import rule_count, rule_matches
from segments.selectors import segment_members, segment_rule
from segments.services import segment_save
from statuses.models import StatusLabel
from tags.models import Tag, TagAssignment, assignment_is_current
from tests.conftest import make_client
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory

pytestmark = pytest.mark.django_db
ALL_PERMS = (
    "segments.view_segment", "segments.add_segment", "segments.change_segment",
    "segments.delete_segment", "customers.view_customer", "customers.tag_customer", "tags.view_tag",
    "tags.add_tag",
)  # fmt: skip


@pytest.fixture
def seg_api(db):
    return make_client(*ALL_PERMS)


def tags(*names):
    return [Tag.objects.filter(name=n).first() or TagFactory(name=n) for n in names]


def give(customer, *names):
    for tag in tags(*names):
        TagAssignmentFactory(customer=customer, tag=tag)


def segment(name, **rule):
    tags(*[n for key in ("all", "any", "none") for n in rule.get(key, [])])
    return segment_save(segment=None, data={"name": name, "rule": rule}, actor=None)


def members(seg) -> set[str]:
    return set(segment_members(seg).values_list("id", flat=True))


def test_the_stateset_example_lists_both_segments(seg_api):
    # given the two segments of the StateSet page and a customer with repeat_buyer, email_subscriber
    premium = segment("Premium Customers", all=["vip", "high_value"])
    engaged = segment("Highly Engaged", all=["repeat_buyer", "email_subscriber"])
    customer = CustomerFactory()
    give(customer, "repeat_buyer", "email_subscriber", "prospect")
    # when the example request is made
    response = seg_api.post(
        f"/api/v1/customers/{customer.id}/tag",
        {"tags_to_add": ["vip", "high_value", "early_adopter"], "tags_to_remove": ["prospect"]},
        format="json",
    )
    # then both segments come back with the documented matched_by_tags
    segments = sorted(response.json()["segments"], key=lambda s: s["name"])
    assert segments == [
        {
            "id": engaged.id,
            "name": "Highly Engaged",
            "matched_by_tags": ["repeat_buyer", "email_subscriber"],
        },
        {"id": premium.id, "name": "Premium Customers", "matched_by_tags": ["vip", "high_value"]},
    ]


def test_any_none_and_status_label_semantics():
    yes, no = CustomerFactory(), CustomerFactory()
    give(yes, "a")
    give(no, "b")
    assert members(segment("any", any=["a", "c"])) == {yes.id}
    assert members(segment("none", none=["b"])) == {yes.id}
    suspended = StatusLabel.objects.get(name="Suspended")
    Customer.objects.filter(pk=no.pk).update(status_label=suspended)
    assert members(segment("label", status_labels=["suspended"])) == {no.id}
    assert members(segment("all+label", all=["a"], status_labels=["Active"])) == {yes.id}


def test_a_deleted_tag_stops_matching_until_restored():
    customer = CustomerFactory()
    give(customer, "vip")
    seg = segment("VIPs", all=["vip"])
    assert members(seg) == {customer.id}
    Tag.objects.filter(name="vip").update(is_deleted=True)
    assert members(seg) == set()
    Tag.objects.filter(name="vip").update(is_deleted=False)
    assert members(seg) == {customer.id}


def test_an_expired_assignment_stops_matching():
    customer = CustomerFactory()
    give(customer, "trial")
    seg = segment("Trials", all=["trial"])
    TagAssignment.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert members(seg) == set()


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(min_value=0, max_value=10_000))
def test_membership_query_and_per_customer_evaluation_agree(seed):
    """200 random customers, 20 random segments: SQL membership == Python evaluation.

    Rules draw from every tag, deleted ones included (a tag deleted after it was put in a rule
    stays there), and assignments may be expired: the expected membership is computed from
    the rows this test wrote with the rule's Python form (``assignment_is_current``), not
    with a query."""
    rng = random.Random(seed)
    Segment.objects.all().delete()
    Customer.objects.all().delete()
    Tag.objects.all().delete()
    pool = Tag.objects.bulk_create([Tag(name=f"t{i}", name_key=f"t{i}") for i in range(12)])
    deleted = {pool[0].pk, pool[1].pk}
    Tag.objects.filter(pk__in=deleted).update(is_deleted=True)
    labels = list(StatusLabel.objects.all())
    customers = Customer.objects.bulk_create(
        [Customer(name=f"c{i}", status_label=rng.choice(labels)) for i in range(200)]
    )
    now = timezone.now()
    written = TagAssignment.objects.bulk_create(
        [
            TagAssignment(
                customer=c,
                tag=t,
                expires_at=rng.choice(
                    [None, None, now - timedelta(days=1), now + timedelta(days=1)]
                ),
            )
            for c in customers
            for t in rng.sample(pool, rng.randint(0, 6))
        ]
    )
    current = {}
    for row in written:
        if assignment_is_current(
            expires_at=row.expires_at, tag_is_deleted=row.tag_id in deleted, now=now
        ):
            current.setdefault(row.customer_id, set()).add(row.tag_id)
    for n in range(20):
        picked = rng.sample(pool, 6)
        seg = Segment.objects.create(name=f"s{n}")
        seg.tags_all.set(picked[: rng.randint(0, 2)])
        seg.tags_any.set(picked[2 : 2 + rng.randint(0, 2)])
        seg.tags_none.set(picked[4 : 4 + rng.randint(0, 2)])
        seg.status_labels.set(rng.sample(labels, rng.randint(0, 2)))
        rule = segment_rule(seg)
        expected = {
            c.id
            for c in customers
            if rule_matches(rule, tag_ids=current.get(c.id, set()), label_id=c.status_label_id)
        }
        assert members(seg) == expected, (seed, n, rule)
        assert rule_count(rule) == len(expected), (seed, n, rule)


@pytest.mark.parametrize("segment_count", [0, 100])
def test_tag_endpoint_query_count_does_not_grow_with_segments(
    seg_api, django_assert_max_num_queries, segment_count
):
    tags("vip", "loyal")
    for n in range(segment_count):
        segment(f"seg {n}", any=["vip", "loyal"])
    customer = CustomerFactory()
    seg_api.post(
        f"/api/v1/customers/{customer.id}/tag", {"tags_to_add": ["loyal"]}, format="json"
    )  # warm
    with django_assert_max_num_queries(14):
        response = seg_api.post(
            f"/api/v1/customers/{customer.id}/tag", {"tags_to_add": ["vip"]}, format="json"
        )
    assert len(response.json()["segments"]) == segment_count


def test_segment_crud_and_rule_validation(seg_api):
    tags("vip", "loyal")
    Tag.objects.create(name="old", is_deleted=True)
    created = seg_api.post(
        "/api/v1/segments/",
        {"name": "Best", "rule": {"all": ["VIP"], "none": ["loyal"]}},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()["segment"]
    assert body["rule"] == {"all": ["vip"], "any": [], "none": ["loyal"], "status_labels": []}
    for rule, code in (
        ({}, "empty_rule"),
        ({"all": ["vip"], "any": ["VIP"]}, "tag_in_two_lists"),
        ({"all": ["ghost"]}, "unknown_tags"),
        ({"any": ["old"]}, "unknown_tags"),
        ({"status_labels": ["Nope"]}, "invalid_label"),
    ):
        response = seg_api.post(
            "/api/v1/segments/", {"name": f"x {code}", "rule": rule}, format="json"
        )
        assert response.status_code == 400, rule
        assert response.json()["errors"][0]["code"] == code
    assert Segment.objects.count() == 1
    assert (
        seg_api.post(
            "/api/v1/segments/", {"name": "best", "rule": {"all": ["vip"]}}, format="json"
        ).status_code
        == 409
    )
    patched = seg_api.patch(
        f"/api/v1/segments/{body['id']}", {"rule": {"any": ["vip", "loyal"]}}, format="json"
    )
    assert patched.json()["segment"]["rule"]["any"] == ["loyal", "vip"]
    assert seg_api.delete(f"/api/v1/segments/{body['id']}").status_code == 204


def test_count_customers_and_preview(seg_api):
    a, b, c = CustomerFactory(), CustomerFactory(), CustomerFactory()
    give(a, "vip", "loyal")
    give(b, "vip")
    give(c, "loyal")
    seg = segment("VIP not loyal", all=["vip"], none=["loyal"])
    assert seg_api.get(f"/api/v1/segments/{seg.id}/count").json() == {
        "segment_id": seg.id,
        "customer_count": 1,
    }
    listed = seg_api.get(f"/api/v1/segments/{seg.id}/customers").json()
    assert [cu["id"] for cu in listed["customers"]] == [b.id]
    preview = seg_api.post(
        "/api/v1/segments/preview", {"rule": {"any": ["loyal"]}}, format="json"
    ).json()
    assert preview["customer_count"] == 2
    assert sorted(cu["id"] for cu in preview["sample"]) == sorted([a.id, c.id])
    assert Segment.objects.count() == 1  # preview saves nothing


def test_customer_filter_and_include_segments(seg_api):
    a, b = CustomerFactory(), CustomerFactory()
    give(a, "vip")
    seg = segment("VIPs", all=["vip"])
    segment("Inactive one", all=["vip"])
    Segment.objects.filter(name="Inactive one").update(is_active=False)
    filtered = seg_api.get(f"/api/v1/customers/?segment={seg.id}").json()["customers"]
    assert [c["id"] for c in filtered] == [a.id]
    assert seg_api.get("/api/v1/customers/?segment=nope").status_code == 400
    included = seg_api.get(f"/api/v1/customers/{a.id}?includes=customer.segments").json()[
        "customer"
    ]
    assert included["segments"] == [{"id": seg.id, "name": "VIPs", "matched_by_tags": ["vip"]}]
    assert (
        seg_api.get(f"/api/v1/customers/{b.id}?includes=customer.segments").json()["customer"][
            "segments"
        ]
        == []
    )


def test_segment_list_query_count_is_constant(seg_api, django_assert_max_num_queries):
    for n in range(5):
        segment(f"s{n}", all=["vip"])
    seg_api.get("/api/v1/segments/")
    with django_assert_max_num_queries(8):
        assert len(seg_api.get("/api/v1/segments/").json()["segments"]) == 5
    for n in range(5, 30):
        segment(f"s{n}", all=["vip"])
    with django_assert_max_num_queries(8):
        assert len(seg_api.get("/api/v1/segments/").json()["segments"]) == 30


# --- admin and export ------------------------------------------------------------------------


@pytest.fixture
def boss_client():
    from django.test import Client

    from tests.factories import UserFactory

    client = Client()
    client.force_login(UserFactory(username="boss", is_staff=True, is_superuser=True))
    return client


def test_admin_edits_rules_with_pickers_and_shows_count_and_sample(boss_client):
    vip, _ = tags("vip", "loyal")
    member = CustomerFactory(name="Member One")
    give(member, "vip")
    response = boss_client.post(
        "/admin/segments/segment/add/",
        {"name": "VIPs", "description": "", "is_active": "on", "tags_all": [vip.pk]},
    )
    assert response.status_code == 302, response.content[:3000]
    seg = Segment.objects.get(name="VIPs")
    assert segment_rule(seg).all == (vip.pk,)
    page = boss_client.get(f"/admin/segments/segment/{seg.pk}/change/")
    assert b"Member One" in page.content
    assert b"Members now" in page.content
    # a tag in two lists is refused on the form, nothing saved
    refused = boss_client.post(
        f"/admin/segments/segment/{seg.pk}/change/",
        {"name": "VIPs", "is_active": "on", "tags_all": [vip.pk], "tags_none": [vip.pk]},
    )
    assert refused.status_code == 200
    assert b"is in both" in refused.content
    assert segment_rule(seg).none == ()
    # the list costs no count query per segment
    for n in range(5):
        segment(f"s{n}", all=["loyal"])
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert boss_client.get("/admin/segments/segment/").status_code == 200
    assert not any("tags_tagassignment" in q["sql"] for q in captured.captured_queries)


def test_export_segment_writes_members_as_csv(tmp_path):
    from django.core.management import call_command

    a, b = CustomerFactory(name="Ada", reference_id="r-a"), CustomerFactory(name="Bob")
    give(a, "vip", "loyal")
    give(b, "loyal")
    seg = segment("Loyal", all=["loyal"])
    out = tmp_path / "loyal.csv"
    call_command("export_segment", seg.id, "-o", str(out))
    lines = out.read_text().splitlines()
    assert lines[0] == "id,reference_id,name,email,mobile,tags"
    rows = sorted(lines[1:])
    assert len(rows) == 2
    ada = next(r for r in rows if r.startswith(a.id))
    assert ada.endswith('"loyal,vip"')
    assert ",r-a,Ada," in ada
    call_command("export_segment", "loyal", "-o", str(tmp_path / "by-name.csv"))
    assert (tmp_path / "by-name.csv").read_text() == out.read_text()


def test_export_segment_refuses_bad_input(tmp_path):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No segment"):
        call_command("export_segment", "nope", "-o", str(tmp_path / "x.csv"))
    assert not (tmp_path / "x.csv").exists()
    seg = segment("S", all=["vip"])
    with pytest.raises(CommandError, match="Cannot write"):
        call_command("export_segment", seg.id, "-o", str(tmp_path / "missing-dir" / "x.csv"))


# --- the per-process rule cache ---------------------------------------------------------------


@pytest.fixture
def long_lived_cache(settings):
    """The cache as in production, where it is rechecked only every few seconds: only the
    services' on-commit reset can make a change visible at once."""
    from segments.selectors import active_segments_invalidate

    settings.SEGMENT_RULES_RECHECK_SECONDS = 3600
    active_segments_invalidate()


def active_names() -> list[str]:
    from segments.selectors import active_segments

    return [s.name for s in active_segments()]


def test_a_saved_segment_is_seen_at_once_after_its_commit(
    long_lived_cache, django_capture_on_commit_callbacks
):
    tags("vip")
    segment("Old", all=["vip"])
    assert active_names() == ["Old"]
    # a change whose commit callbacks do not run stays invisible: the cache is real
    with django_capture_on_commit_callbacks(execute=False):
        segment("Unseen", all=["vip"])
    assert active_names() == ["Old"]
    # when a segment is saved and its transaction commits
    with django_capture_on_commit_callbacks(execute=True):
        segment("New", all=["vip"])
    # then this process sees it without waiting for the recheck
    assert active_names() == ["New", "Old", "Unseen"]


def test_an_edited_and_a_deleted_segment_are_seen_at_once(
    long_lived_cache, django_capture_on_commit_callbacks
):
    from segments.services import segment_delete

    tags("vip")
    first = segment("First", all=["vip"])
    segment("Second", all=["vip"])
    assert active_names() == ["First", "Second"]
    with django_capture_on_commit_callbacks(execute=True):
        segment_save(segment=first, data={"is_active": False}, actor=None)
    assert active_names() == ["Second"]
    with django_capture_on_commit_callbacks(execute=True):
        segment_delete(segment=Segment.objects.get(name="Second"), actor=None)
    assert active_names() == []


@pytest.mark.parametrize(
    ("body", "attr", "code"),
    [
        ({"description": "d" * 10_001}, "description", "max_length"),
        ({"rule": {"all": ["vip"], "al": ["x"]}}, "rule.al", "unknown_field"),
        ({"customer_count": 3}, "customer_count", "unknown_field"),
    ],
)
def test_segment_input_is_bounded_and_closed(seg_api, body, attr, code):
    tags("vip")
    response = seg_api.post(
        "/api/v1/segments/", {"name": "S", "rule": {"all": ["vip"]}, **body}, format="json"
    )
    assert response.status_code == 400
    assert (response.json()["errors"][0]["attr"], response.json()["errors"][0]["code"]) == (
        attr,
        code,
    )
    assert not Segment.objects.exists()


def test_a_segment_patch_validates_the_whole_rule(seg_api):
    tags("vip")
    seg = segment("S", all=["vip"])
    response = seg_api.patch(
        f"/api/v1/segments/{seg.id}", {"rule": {"any": ["vip"], "nonee": []}}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "rule.nonee"


def test_preview_refuses_unknown_rule_keys(seg_api):
    tags("vip")
    CustomerFactory()
    for body, attr in (
        ({"rule": {"tags": ["vip"]}}, "rule.tags"),
        ({"rule": {"all": ["vip"]}, "limit": 5}, "limit"),
    ):
        response = seg_api.post("/api/v1/segments/preview", body, format="json")
        assert response.status_code == 400
        assert response.json()["errors"][0]["attr"] == attr
