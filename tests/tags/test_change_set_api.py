"""GET /api/v1/change_sets/ and /change_sets/{id}: the record of bulk changes, read-only."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from tags.models import ChangeSet, Tag, TagAssignment
from tests.conftest import make_client
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/change_sets/"


@pytest.fixture
def reader():
    return make_client("tags.view_changeset")


def make(kind="retag", state="done", **fields) -> ChangeSet:
    return ChangeSet.objects.create(kind=kind, state=state, **fields)


def test_a_change_set_shows_who_what_how_far_and_how_it_went(reader):
    ops = UserFactory(username="ops")
    started = timezone.now() - timedelta(minutes=1)
    running = make(
        state="running",
        selection={"all": True},
        add=["vip"],
        remove=["prospect"],
        reason="Q3",
        created_by=ops,
        total=8,
        counts={"customers": 2, "added": 2, "removed": 1, "conflicts": 0, "skipped_limit": 0},
        started_at=started,
    )
    response = reader.get(f"{URL}{running.pk}")
    assert response.status_code == 200
    body = response.json()["change_set"]
    assert body == {
        "id": running.pk,
        "kind": "retag",
        "state": "running",
        "selection": {"all": True},
        "add": ["vip"],
        "remove": ["prospect"],
        "reason": "Q3",
        "created_by": "ops",
        "counts": {"customers": 2, "added": 2, "removed": 1, "conflicts": 0, "skipped_limit": 0},
        "progress": 0.25,
        "error": "",
        "conflicts": [],
        "started_at": body["started_at"],
        "finished_at": None,
        "reverts": None,
        "reverted_by": None,
        "created_at": body["created_at"],
    }
    assert body["started_at"].startswith(started.strftime("%Y-%m-%dT%H:%M"))


def test_a_revert_and_the_change_set_it_reverted_name_each_other(reader):
    original = make(state="reverted")
    revert = make(kind="revert", reverts=original)
    assert reader.get(f"{URL}{original.pk}").json()["change_set"]["reverted_by"] == revert.pk
    assert reader.get(f"{URL}{revert.pk}").json()["change_set"]["reverts"] == original.pk


def test_a_system_change_set_has_no_creator_and_finished_is_progress_one(reader):
    done = make(total=None)
    body = reader.get(f"{URL}{done.pk}").json()["change_set"]
    assert (body["created_by"], body["progress"]) == (None, 1.0)


def test_an_unknown_or_malformed_id_is_a_404(reader):
    assert reader.get(f"{URL}01jbx6m2qf7d8h4kz9w3n5c0vt").status_code == 404
    assert reader.get(f"{URL}nope").status_code == 404


def test_the_list_filters_by_state_and_kind(reader):
    done = make()
    failed = make(state="failed")
    bulk = make(kind="bulk_tag")
    assert [c["id"] for c in reader.get(URL).json()["change_sets"]] == [
        done.pk,
        failed.pk,
        bulk.pk,
    ]
    assert [c["id"] for c in reader.get(URL, {"state": "failed"}).json()["change_sets"]] == [
        failed.pk
    ]
    assert [c["id"] for c in reader.get(URL, {"kind": "bulk_tag"}).json()["change_sets"]] == [
        bulk.pk
    ]
    newest_first = reader.get(URL, {"ordering": "-id"}).json()["change_sets"]
    assert [c["id"] for c in newest_first] == [bulk.pk, failed.pk, done.pk]


@pytest.mark.parametrize(
    ("query", "attr", "code"),
    [
        ({"state": "finished"}, "state", "invalid_choice"),
        ({"kind": "everything"}, "kind", "invalid_choice"),
        ({"user": "ops"}, "user", "unknown_field"),
        ({"created_after": "yesterday"}, "created_after", "invalid"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(reader, query, attr, code):
    response = reader.get(URL, query)
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert (error["attr"], error["code"]) == (attr, code)


def test_the_list_costs_the_same_queries_for_one_change_set_or_many(
    reader, django_assert_max_num_queries
):
    for _ in range(2):
        make(created_by=UserFactory(), reverts=make(state="reverted"))
    # authentication, permissions, the page (users and reverts joined): not one per row
    with django_assert_max_num_queries(6):
        response = reader.get(URL)
    assert len(response.json()["change_sets"]) == 4


def test_bulk_tag_answers_the_change_set_it_recorded(tagger):
    customers = CustomerFactory.create_batch(3)
    response = tagger.post(
        "/api/v1/customers/bulk_tag",
        {"customer_ids": [c.pk for c in customers], "tags_to_add": ["vip"]},
        format="json",
    )
    reader = make_client("tags.view_changeset")
    found = reader.get(f"{URL}{response.json()['change_set_id']}").json()["change_set"]
    assert (found["kind"], found["state"], found["progress"]) == ("bulk_tag", "done", 1.0)
    assert found["counts"]["added"] == 3
    assert found["created_by"] == tagger.user.username


# --- POST /change_sets/{id}/revert ------------------------------------------------------------


@pytest.fixture
def reverter():
    return make_client("tags.view_changeset", "tags.change_changeset", "customers.tag_customer")


def bulk_tagged(tagger, customers, **body) -> str:
    response = tagger.post(
        "/api/v1/customers/bulk_tag",
        {"customer_ids": [c.pk for c in customers], **body},
        format="json",
    )
    assert response.status_code == 200, response.json()
    return response.json()["change_set_id"]


def test_a_revert_answers_the_new_change_set_with_its_location(tagger, reverter):
    customers = CustomerFactory.create_batch(2)
    original = bulk_tagged(tagger, customers, tags_to_add=["vip"])
    response = reverter.post(f"{URL}{original}/revert", {"reason": "wrong list"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()["change_set"]
    assert response["Location"] == f"/api/v1/change_sets/{body['id']}"
    assert (body["kind"], body["state"], body["reverts"], body["reason"]) == (
        "revert", "done", original, "wrong list",
    )  # fmt: skip
    assert (body["counts"]["removed"], body["conflicts"], body["created_by"]) == (
        2, [], reverter.user.username,
    )  # fmt: skip
    assert not TagAssignment.objects.exists()
    found = reverter.get(f"{URL}{original}").json()["change_set"]
    assert (found["state"], found["reverted_by"]) == ("reverted", body["id"])


def test_a_revert_lists_its_conflicts(tagger, reverter):
    customers = sorted(CustomerFactory.create_batch(2), key=lambda c: c.pk)
    original = bulk_tagged(tagger, customers, tags_to_add=["vip"])
    tagger.delete(f"/api/v1/customers/{customers[0].pk}/tags?keys=vip")
    body = reverter.post(f"{URL}{original}/revert", {}, format="json").json()["change_set"]
    assert body["counts"]["conflicts"] == 1
    vip = Tag.objects.get(name="vip")
    assert body["conflicts"] == [
        {"customer_id": customers[0].pk, "tag_id": vip.pk, "tag": "vip", "change": "added"}
    ]


def test_reverting_twice_is_a_409_and_changes_nothing(tagger, reverter):
    original = bulk_tagged(tagger, CustomerFactory.create_batch(1), tags_to_add=["vip"])
    assert reverter.post(f"{URL}{original}/revert", {}, format="json").status_code == 201
    again = reverter.post(f"{URL}{original}/revert", {}, format="json")
    assert again.status_code == 409
    assert again.json()["errors"][0]["code"] == "not_revertible"
    assert ChangeSet.objects.filter(kind="revert").count() == 1


@override_settings(CHANGE_SET_RETENTION_DAYS=1)
def test_a_revert_past_the_retention_window_is_a_409_saying_so(reverter):
    old = make(finished_at=timezone.now() - timedelta(days=2))
    response = reverter.post(f"{URL}{old.pk}/revert", {}, format="json")
    assert response.status_code == 409
    (error,) = response.json()["errors"]
    assert error["code"] == "revert_window_closed"
    assert "more than 1 days ago" in error["detail"]


@pytest.mark.parametrize(
    ("body", "attr", "code"),
    [({"reason": "x" * 256}, "reason", "max_length"), ({"why": "x"}, "why", "unknown_field")],
)
def test_a_bad_revert_body_is_a_400_naming_the_field(reverter, body, attr, code):
    done = make()
    response = reverter.post(f"{URL}{done.pk}/revert", body, format="json")
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert (error["attr"], error["code"]) == (attr, code)
    assert done.__class__.objects.get(pk=done.pk).state == "done"
