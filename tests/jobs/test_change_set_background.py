"""bulk_tag over CHANGE_SET_SYNC_MAX customers runs on the job engine as a change-set: 202 with
its Location, batch by batch behind a cursor, cancel stops it after the batch under way, and a
run cut off resumes from the cursor with no batch done twice. On the configured backend (CI
runs these once more with TASKS_BACKEND=rq)."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from config.events.models import Event
from tags.models import ChangeSet, TagAssignment
from tags.services import bulk, change_set_cancel, change_set_run, resume_change_sets
from tests.conftest import make_client
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory
from tests.jobs.conftest import drain, queued, rq_queue

pytestmark = [pytest.mark.jobs, pytest.mark.django_db(transaction=True)]
URL = "/api/v1/customers/bulk_tag"
History = TagAssignment.history.model


@pytest.fixture
def tagger():
    return make_client(
        "customers.view_customer", "customers.tag_customer", "tags.view_tag", "tags.add_tag",
        "tags.view_changeset", "tags.change_changeset",
    )  # fmt: skip


def customers(n: int) -> list:
    return sorted(CustomerFactory.create_batch(n), key=lambda c: c.pk)


def forget_jobs() -> None:
    """Drop the queued jobs, as a lost worker loses its job."""
    if settings.TASKS_BACKEND == "rq":
        rq_queue().empty()
    else:
        DBTaskResult.objects.all().delete()


def whole(change_set: ChangeSet) -> None:
    """Every assignment the run wrote has one history row and every customer it changed one
    event, all carrying its id: no batch half-written, none done twice."""
    rows = History.objects.filter(change_set_id=change_set.pk)
    assert rows.count() == rows.values("customer_id", "tag_id").distinct().count()
    events = Event.objects.filter(change_set_id=change_set.pk, type="customer.tags_changed")
    assert events.count() == rows.values("customer_id").distinct().count()


def test_a_large_bulk_tag_answers_202_and_runs_in_the_background(backend, small, tagger):
    # given 5 customers, one already holding vip
    everyone = customers(5)
    TagAssignmentFactory(customer=everyone[0], tag=TagFactory(name="vip"))
    # when bulk_tag names all 5 (over the threshold of 3)
    response = tagger.post(
        URL,
        {"customer_ids": [c.pk for c in everyone], "tags_to_add": ["vip"], "reason": "big"},
        format="json",
    )
    # then it is accepted, planned, and nothing is written yet
    assert response.status_code == 202, response.json()
    body = response.json()
    change_set = ChangeSet.objects.get()
    assert body == {
        "change_set_id": change_set.pk,
        "state": "planned",
        "matched": 5,
        "unknown_ids": [],
        "warnings": [],
    }
    assert response["Location"] == f"/api/v1/change_sets/{change_set.pk}"
    assert TagAssignment.objects.count() == 1
    assert queued() == 1
    # when a worker runs the job
    drain()
    # then the change is done, batch by batch, and the change-set says so
    assert TagAssignment.objects.count() == 5
    followed = tagger.get(response["Location"]).json()["change_set"]
    assert (followed["state"], followed["progress"], followed["kind"]) == ("done", 1.0, "bulk_tag")
    assert followed["counts"] == {
        "customers": 5, "added": 4, "removed": 0, "conflicts": 0, "skipped_limit": 0,
    }  # fmt: skip
    change_set.refresh_from_db()
    assert change_set.cursor == everyone[-1].pk
    whole(change_set)
    assert (
        Event.objects.filter(type="change_set.completed", change_set_id=change_set.pk).count() == 1
    )
    assert set(
        History.objects.filter(change_set_id=change_set.pk).values_list(
            "history_user_id", flat=True
        )
    ) == {tagger.user.pk}


def test_at_the_threshold_it_still_runs_in_the_request(backend, small, tagger):
    response = tagger.post(
        URL, {"customer_ids": [c.pk for c in customers(3)], "tags_to_add": ["vip"]}, format="json"
    )
    assert response.status_code == 200
    assert ChangeSet.objects.get().state == "done"
    assert queued() == 0


def test_a_refused_large_bulk_tag_plans_nothing(backend, small, tagger):
    body = {"customer_ids": [c.pk for c in customers(4)], "tags_to_add": ["nope"]}
    response = tagger.post(URL, {**body, "create_missing": False}, format="json")
    assert response.status_code == 400
    assert not ChangeSet.objects.exists()
    assert queued() == 0
    # and a dry run over the threshold is a preview, as under it
    preview = tagger.post(URL, {**body, "dry_run": True}, format="json")
    assert (preview.status_code, preview.json()["preview"]["changed"]) == (200, 4)
    assert not ChangeSet.objects.exists()


def test_cancel_stops_the_run_after_the_batch_under_way(backend, small, tagger, monkeypatch):
    everyone = customers(6)
    response = tagger.post(
        URL, {"customer_ids": [c.pk for c in everyone], "tags_to_add": ["vip"]}, format="json"
    )
    change_set_id = response.json()["change_set_id"]
    real = bulk._batch_apply

    def cancelled_meanwhile(ids, **kwargs):
        # the cancel arrives while the first batch is being written
        counts = real(ids, **kwargs)
        if ids == [c.pk for c in everyone[:2]]:
            change_set_cancel(change_set=ChangeSet.objects.get(pk=change_set_id))
        return counts

    monkeypatch.setattr(bulk, "_batch_apply", cancelled_meanwhile)
    assert change_set_run(change_set_id=change_set_id) == "cancelled"
    # then that batch is whole and no other was started
    assert set(TagAssignment.objects.values_list("customer_id", flat=True)) == {
        c.pk for c in everyone[:2]
    }
    change_set = ChangeSet.objects.get(pk=change_set_id)
    assert (change_set.state, change_set.counts["customers"]) == ("cancelled", 2)
    assert change_set.progress == pytest.approx(2 / 6)
    whole(change_set)
    assert not Event.objects.filter(type__startswith="change_set.").exists()


def test_cancel_over_the_api(backend, small, tagger):
    response = tagger.post(
        URL, {"customer_ids": [c.pk for c in customers(4)], "tags_to_add": ["vip"]}, format="json"
    )
    url = f"{response['Location']}/cancel"
    cancelled = tagger.post(url, {}, format="json")
    assert cancelled.status_code == 200
    assert cancelled.json()["change_set"]["state"] == "cancelled"
    # the job, when it comes, does nothing
    drain()
    assert not TagAssignment.objects.exists()
    # and a change-set no longer running, or not in the background, cannot be cancelled
    again = tagger.post(url, {}, format="json")
    assert (again.status_code, again.json()["errors"][0]["code"]) == (409, "not_cancellable")
    sync = ChangeSet.objects.create(kind="retag", state="running")
    refused = tagger.post(f"/api/v1/change_sets/{sync.pk}/cancel", {}, format="json")
    assert (refused.status_code, refused.json()["errors"][0]["code"]) == (409, "not_cancellable")
    unknown_field = tagger.post(url, {"now": True}, format="json")
    assert unknown_field.status_code == 400


def test_a_run_cut_off_resumes_from_its_cursor_with_no_batch_done_twice(
    backend, small, tagger, monkeypatch
):
    # given a background run whose worker dies during its second batch
    everyone = customers(5)
    response = tagger.post(
        URL, {"customer_ids": [c.pk for c in everyone], "tags_to_add": ["vip"]}, format="json"
    )
    change_set_id = response.json()["change_set_id"]
    real = bulk._batch_apply
    calls = []

    def dies_in_the_second_batch(ids, **kwargs):
        counts = real(ids, **kwargs)
        calls.append(ids)
        if len(calls) == 2:
            raise SystemExit("killed")  # not an error the run records: the process is gone
        return counts

    monkeypatch.setattr(bulk, "_batch_apply", dies_in_the_second_batch)
    with pytest.raises(SystemExit):
        change_set_run(change_set_id=change_set_id)
    change_set = ChangeSet.objects.get(pk=change_set_id)
    assert (change_set.state, change_set.cursor) == ("running", everyone[1].pk)
    assert TagAssignment.objects.count() == 2
    # when the job is lost with its worker, and the schedule finds the change-set stale
    monkeypatch.setattr(bulk, "_batch_apply", real)
    forget_jobs()
    assert resume_change_sets.call() == 0  # still fresh: its worker may be alive
    ChangeSet.objects.filter(pk=change_set_id).update(
        updated_at=timezone.now() - timedelta(seconds=301)
    )
    assert resume_change_sets.call() == 1
    assert queued() == 1
    drain()
    # then it finished from its cursor: every customer once, no duplicate
    change_set.refresh_from_db()
    assert change_set.state == "done"
    assert change_set.counts["customers"] == 5
    assert TagAssignment.objects.count() == 5
    whole(change_set)


def test_a_background_run_refused_at_a_batch_fails_and_keeps_the_batches_before(
    backend, small, tagger, settings
):
    settings.MAX_TAGS_PER_CUSTOMER = 1
    everyone = customers(4)
    TagAssignmentFactory(customer=everyone[3], tag=TagFactory(name="other"))
    response = tagger.post(
        URL, {"customer_ids": [c.pk for c in everyone], "tags_to_add": ["vip"]}, format="json"
    )
    drain()
    change_set = ChangeSet.objects.get(pk=response.json()["change_set_id"])
    assert change_set.state == "failed"
    assert "at most 1 tags" in change_set.error
    assert (change_set.counts["customers"], change_set.cursor) == (2, everyone[1].pk)
    assert TagAssignment.objects.filter(tag__name="vip").count() == 2
    assert Event.objects.filter(type="change_set.failed", change_set_id=change_set.pk).exists()
