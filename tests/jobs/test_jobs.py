"""The periodic jobs on the configured backend (the database by default; CI runs these once
more with TASKS_BACKEND=rq): each does its work when a worker runs it, is safe to run twice,
and a failure is recorded with its error."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult
from ulid import ULID

from config.api.models import IdempotencyKey
from config.edge.tasks import PERIODIC, expire_tags
from config.events.models import Event
from config.jobs import ABANDONED, jobs_mark_abandoned, jobs_prune
from tags.models import TagAssignment
from tests.factories import TagAssignmentFactory, UserFactory
from tests.jobs import tasks
from tests.jobs.conftest import drain, queued

pytestmark = [pytest.mark.jobs, pytest.mark.django_db(transaction=True)]
History = TagAssignment.history.model


def old_event(days: int) -> str:
    event_id = str(ULID.from_datetime(datetime.now(UTC) - timedelta(days=days))).lower()
    with transaction.atomic():
        Event.objects.create(id=event_id, type="tag.created", actor_type="system")
    return event_id


def test_the_periodic_jobs_do_their_work_when_a_worker_runs_them(backend, settings):
    # given an expired assignment, a day-old idempotency key and a 40-day-old event
    settings.EVENTS_RETENTION_DAYS = 30
    past = timezone.now() - timedelta(hours=1)
    expired = TagAssignmentFactory(expires_at=past)
    current = TagAssignmentFactory(expires_at=timezone.now() + timedelta(days=1))
    IdempotencyKey.objects.create(client="token:1", key="old", fingerprint="x")
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
    IdempotencyKey.objects.create(client="token:1", key="new", fingerprint="x")
    kept_event = old_event(days=1)
    old_event(days=40)
    # when the schedule enqueues the periodic jobs and a worker runs them
    call_command("enqueue_periodic", verbosity=0)
    assert queued() == len(PERIODIC)
    drain()
    # then each did its work
    assert list(TagAssignment.objects.values_list("pk", flat=True)) == [current.pk]
    removed = History.objects.get(id=expired.pk, history_type="-")
    assert removed.history_change_reason == "expired"
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
    # the 40-day-old event pruned; the expiry wrote its own, for the customer it changed
    assert sorted(Event.objects.values_list("type", "customer_id")) == [
        ("customer.tags_changed", expired.customer_id),
        ("tag.created", None),
    ]
    assert Event.objects.get(type="tag.created").id == kept_event
    expiry = Event.objects.get(type="customer.tags_changed")
    assert [tag["name"] for tag in expiry.data["removed"]] == [expired.tag.name]
    assert expiry.data["added"] == []
    assert queued() == 0


def test_a_job_run_twice_does_its_work_once(backend):
    TagAssignmentFactory(expires_at=timezone.now() - timedelta(minutes=1))
    first, second = expire_tags.enqueue(), expire_tags.enqueue()
    drain()
    first.refresh()
    second.refresh()
    assert (first.status, second.status) == (TaskResultStatus.SUCCESSFUL,) * 2
    assert sorted([first.return_value, second.return_value]) == [0, 1]
    assert History.objects.filter(history_type="-").count() == 1


def test_the_schedule_does_not_pile_up_runs_behind_a_stopped_worker(backend):
    call_command("enqueue_periodic", verbosity=0)
    call_command("enqueue_periodic", verbosity=0)
    assert queued() == len(PERIODIC)
    drain()
    call_command("enqueue_periodic", verbosity=0)
    assert queued() == len(PERIODIC)


def test_a_failing_job_is_recorded_with_its_error(backend):
    result = tasks.fail.enqueue("the disk is full")
    drain()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[-1].exception_class_path == "builtins.RuntimeError"
    assert "the disk is full" in result.errors[-1].traceback


def test_jobs_act_as_the_system(backend):
    result = tasks.record_event.enqueue()
    drain()
    result.refresh()
    event = Event.objects.get(pk=result.return_value)
    assert (event.actor_type, event.actor_username, event.request_id) == ("system", "system", "")


# --- the database backend's own bookkeeping -------------------------------------------------


def job_row(*, status: str, started: timedelta | None = None, finished: timedelta | None = None):
    now = timezone.now()
    return DBTaskResult.objects.create(
        status=status,
        args_kwargs={"args": [], "kwargs": {}},
        task_path=expire_tags.module_path,
        backend_name="default",
        queue_name=expire_tags.queue_name,
        started_at=now - started if started is not None else None,
        finished_at=now - finished if finished is not None else None,
    )


def test_a_job_whose_worker_died_is_marked_failed(settings):
    # given a job claimed two hours ago and never finished, and one claimed a minute ago
    settings.JOBS_ABANDONED_AFTER_SECONDS = 3600
    lost = job_row(status=TaskResultStatus.RUNNING, started=timedelta(hours=2))
    running = job_row(status=TaskResultStatus.RUNNING, started=timedelta(minutes=1))
    # when the periodic tidy-up runs
    assert jobs_mark_abandoned() == 1
    # then the lost one is failed, with the reason; the running one is left alone
    lost.refresh_from_db()
    running.refresh_from_db()
    assert (lost.status, lost.exception_class_path) == (TaskResultStatus.FAILED, ABANDONED)
    assert "stopped before it finished" in lost.traceback
    assert lost.finished_at is not None
    assert running.status == TaskResultStatus.RUNNING


def test_finished_jobs_are_pruned_after_their_retention(settings):
    settings.JOBS_RETENTION_DAYS = 14
    old = job_row(status=TaskResultStatus.SUCCESSFUL, finished=timedelta(days=15))
    old_failed = job_row(status=TaskResultStatus.FAILED, finished=timedelta(days=20))
    recent = job_row(status=TaskResultStatus.SUCCESSFUL, finished=timedelta(days=1))
    waiting = job_row(status=TaskResultStatus.READY)
    assert jobs_prune() == 2
    left = set(DBTaskResult.objects.values_list("pk", flat=True))
    assert left == {recent.pk, waiting.pk}
    assert not {old.pk, old_failed.pk} & left


def test_staff_with_the_permission_see_jobs_with_their_state_and_error(client):
    # given a failed job and a successful one, run by the database worker
    failed = job_row(
        status=TaskResultStatus.FAILED, started=timedelta(minutes=2), finished=timedelta(minutes=1)
    )
    DBTaskResult.objects.filter(pk=failed.pk).update(
        exception_class_path="builtins.RuntimeError",
        traceback="Traceback (most recent call last):\n  ...\nRuntimeError: the disk is full\n",
    )
    job_row(
        status=TaskResultStatus.SUCCESSFUL,
        started=timedelta(minutes=5),
        finished=timedelta(minutes=4),
    )
    staff = UserFactory(perms=["django_tasks_database.view_dbtaskresult"])
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    # when they open the jobs list
    response = client.get("/admin/django_tasks_database/dbtaskresult/")
    # then each job's state, times and error are there
    assert response.status_code == 200
    page = response.content.decode()
    assert "RuntimeError: the disk is full" in page
    assert "FAILED" in page or "Failed" in page
    assert "Successful" in page or "SUCCESSFUL" in page
    assert "Background jobs" in client.get("/admin/").content.decode()
    # and staff without the permission are refused
    other = UserFactory()
    other.is_staff = True
    other.save()
    client.force_login(other)
    assert client.get("/admin/django_tasks_database/dbtaskresult/").status_code == 403


def test_the_schedule_refuses_an_interval_below_a_second():
    with pytest.raises(CommandError, match="--every must be at least 1 second"):
        call_command("enqueue_periodic", "--every", "0")
