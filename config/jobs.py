"""Background jobs on Django's tasks API (the django-tasks backport), whichever backend runs them.

``settings.TASKS_BACKEND`` picks the backend: ``database`` (django-tasks-db: the jobs are rows,
`manage.py run_worker` works them, the admin lists them) or ``rq`` (django-tasks-rq: Redis and
RQ workers). Jobs are written to be idempotent (safe to run twice, and to be cut off anywhere by
a killed worker: the next run does what is left), so neither backend needs to retry one.
"""

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import django_rq
from django.conf import settings
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks.base import Task
from django_tasks_db.models import DBTaskResult
from django_tasks_rq import Job

from config.context import SYSTEM, acting_as

ABANDONED = "config.jobs.WorkerLost"


def job(func: Callable) -> Task:
    """A task on the project's queue. The body acts as the system in what it records (the
    event log). Arguments must be JSON values."""

    # The worker finds a task by its module path: the wrapper keeps the function's name.
    @functools.wraps(func)
    def body(*args: Any, **kwargs: Any) -> Any:
        with acting_as(SYSTEM):
            return func(*args, **kwargs)

    return task(queue_name=settings.TASKS_QUEUE)(body)


def job_waiting(job_task: Task) -> bool:
    """Whether a run of ``job_task`` is already queued and not started (so the periodic
    schedule does not pile runs up behind a stopped worker)."""
    if settings.TASKS_BACKEND == "rq":
        queue = django_rq.get_queue(job_task.queue_name, job_class=Job)
        return any(job.func_name == job_task.module_path for job in queue.get_jobs())
    return (
        DBTaskResult.objects.ready()
        .filter(task_path=job_task.module_path, backend_name=job_task.backend)
        .exists()
    )


def jobs_queued(job_task: Task) -> int:
    """How many runs of ``job_task`` wait in the queue (RQ: every job of the project's queue,
    an upper bound that costs no scan of the queue)."""
    if settings.TASKS_BACKEND == "rq":
        return django_rq.get_queue(job_task.queue_name, job_class=Job).count
    return (
        DBTaskResult.objects.ready()
        .filter(task_path=job_task.module_path, backend_name=job_task.backend)
        .count()
    )


def jobs_mark_abandoned(*, older_than: timedelta | None = None) -> int:
    """Database backend: mark failed the jobs still "running" long after they started, whose
    worker was killed (the database worker claims a job, then runs it; a SIGKILL between the
    two leaves the claim). Their work is redone by the next run of the same job."""
    if older_than is None:
        older_than = timedelta(seconds=settings.JOBS_ABANDONED_AFTER_SECONDS)
    now = timezone.now()
    return (
        DBTaskResult.objects.running()
        .filter(started_at__lt=now - older_than)
        .update(
            status=TaskResultStatus.FAILED,
            finished_at=now,
            exception_class_path=ABANDONED,
            traceback="The worker running this job stopped before it finished "
            f"(still marked running {older_than} after it started).",
            return_value=None,
        )
    )


def jobs_prune(*, older_than: timedelta | None = None) -> int:
    """Database backend: delete finished jobs older than ``JOBS_RETENTION_DAYS``."""
    if older_than is None:
        older_than = timedelta(days=settings.JOBS_RETENTION_DAYS)
    deleted, _ = (
        DBTaskResult.objects.finished().filter(finished_at__lt=timezone.now() - older_than).delete()
    )
    return deleted
