"""A change-set's admin page while it runs: a progress bar fed by a JSON view (tags.
view_changeset) and, for a background run, a Cancel button (tags.change_changeset) that goes
through ``change_set_cancel`` as the API."""

import pytest
from django.test import Client

from tags.models import ChangeSet, TagAssignment, default_change_set_counts
from tags.services import TagChange, change_set_plan, change_set_run, customers_retag
from tags.services.change_sets import ChangeSetPlan
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db
LIST = "/admin/tags/changeset/"


def signed_in(*perms: str, **fields) -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, perms=list(perms), **fields))
    return client


@pytest.fixture
def boss() -> Client:
    return signed_in(is_superuser=True, username="boss")


def planned(n: int = 5) -> ChangeSet:
    customers = CustomerFactory.create_batch(n)
    change_set, _ = change_set_plan(
        customer_ids=[c.pk for c in customers],
        change=TagChange(add=("vip",), reason="big"),
        actor=None,
        selection={"admin": {"selected": n}},
    )
    return change_set


def done_in_the_request() -> ChangeSet:
    return customers_retag(
        batches=[[c.pk for c in CustomerFactory.create_batch(2)]],
        change=TagChange(add=("vip",), reason="small"),
        actor=None,
        plan=ChangeSetPlan(kind="bulk_tag", selection={"admin": {"selected": 2}}),
    ).change_set


def test_the_progress_view_reports_state_progress_and_counts(boss, settings):
    settings.CHANGE_SET_BATCH_SIZE = 2
    change_set = planned(5)
    url = f"{LIST}{change_set.pk}/progress/"
    assert boss.get(url).json() == {
        "id": change_set.pk, "state": "planned", "final": False, "progress": 0.0, "total": 5,
        "counts": {"customers": 0, "added": 0, "removed": 0, "conflicts": 0, "skipped_limit": 0},
    }  # fmt: skip
    # two of the five done: 0.4 of the way
    ChangeSet.objects.filter(pk=change_set.pk).update(
        state="running", counts={"customers": 2, "added": 2, "removed": 0}
    )
    assert (boss.get(url).json()["progress"], boss.get(url).json()["final"]) == (0.4, False)
    ChangeSet.objects.filter(pk=change_set.pk).update(
        state="planned", counts=default_change_set_counts()
    )
    assert change_set_run(change_set_id=change_set.pk) == "done"
    body = boss.get(url).json()
    assert (body["state"], body["final"], body["progress"]) == ("done", True, 1.0)
    assert body["counts"]["added"] == 5


def test_the_progress_view_needs_view_changeset(boss):
    change_set = planned(2)
    url = f"{LIST}{change_set.pk}/progress/"
    assert signed_in("customers.view_customer").get(url).status_code == 403
    assert signed_in("tags.view_changeset").get(url).status_code == 200
    assert boss.get(f"{LIST}01jbx6m2qf7d8h4kz9w3n5c0vt/progress/").status_code == 404


def test_a_live_change_set_page_shows_the_bar_and_a_cancel_button(boss):
    change_set = planned(2)
    page = boss.get(f"{LIST}{change_set.pk}/change/").content.decode()
    assert 'id="change-set-progress"' in page
    assert f'data-url="{LIST}{change_set.pk}/progress/"' in page
    assert "admin_live/change_set_progress.js" in page
    assert 'id="cancel-change-set"' in page
    assert 'id="revert-change-set"' not in page
    viewer = signed_in("tags.view_changeset").get(f"{LIST}{change_set.pk}/change/")
    assert 'id="change-set-progress"' in viewer.content.decode()
    assert 'id="cancel-change-set"' not in viewer.content.decode()
    finished = boss.get(f"{LIST}{done_in_the_request().pk}/change/").content.decode()
    assert 'id="change-set-progress"' not in finished
    assert 'id="cancel-change-set"' not in finished


def test_cancel_stops_a_background_change_set(boss):
    change_set = planned(3)
    response = boss.post(f"{LIST}{change_set.pk}/cancel/", follow=True)
    change_set.refresh_from_db()
    assert change_set.state == "cancelled"
    assert response.redirect_chain == [(f"{LIST}{change_set.pk}/change/", 302)]
    assert f"Cancelled change-set {change_set.pk}" in response.content.decode()
    # the job finds it cancelled and writes nothing
    assert change_set_run(change_set_id=change_set.pk) == "cancelled"
    assert not TagAssignment.objects.exists()


def test_cancel_is_refused_for_a_change_set_not_in_the_background(boss):
    change_set = done_in_the_request()
    response = boss.post(f"{LIST}{change_set.pk}/cancel/", follow=True)
    change_set.refresh_from_db()
    assert change_set.state == "done"
    messages = [str(m) for m in response.context["messages"]]
    assert messages == [
        f"Change-set {change_set.pk} does not run in the background: only a background run "
        "can be cancelled."
    ]
    assert 'class="error"' in response.content.decode()


def test_cancel_needs_change_changeset_and_a_post(boss):
    change_set = planned(2)
    url = f"{LIST}{change_set.pk}/cancel/"
    assert signed_in("tags.view_changeset").post(url).status_code == 403
    assert boss.get(url).status_code == 403
    assert boss.post(f"{LIST}01jbx6m2qf7d8h4kz9w3n5c0vt/cancel/").status_code == 404
    change_set.refresh_from_db()
    assert change_set.state == "planned"
