import os

import django_rq
import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult
from django_tasks_rq import Job
from rq import SimpleWorker


def redis_answers() -> bool:
    try:
        return bool(redis.Redis.from_url(settings.RQ_QUEUES["default"]["URL"]).ping())
    except redis.RedisError:
        return False


def rq_queue():
    return django_rq.get_queue(settings.TASKS_QUEUE, job_class=Job)


@pytest.fixture
def backend() -> str:
    """The configured backend (TASKS_BACKEND), its queue empty before and after the test. RQ
    needs Redis: without it the test skips, except in CI, where it fails."""
    if settings.TASKS_BACKEND != "rq":
        yield "database"
        return
    if not redis_answers():
        if os.environ.get("CI"):
            pytest.fail("TASKS_BACKEND=rq and Redis is not answering on 127.0.0.1:6379")
        pytest.skip("TASKS_BACKEND=rq needs Redis on 127.0.0.1:6379")
    queue = rq_queue()
    queue.empty()
    yield "rq"
    forget(queue)


def forget(queue) -> None:
    """Leave nothing of the test run's queue in Redis: jobs, registries, worker sets."""
    queue.delete(delete_jobs=True)
    for key in queue.connection.scan_iter(match=f"rq:*:{queue.name}"):
        queue.connection.delete(key)


def drain() -> None:
    """Run every queued job in this process, so the jobs see the test's database."""
    if settings.TASKS_BACKEND == "rq":
        queue = rq_queue()
        SimpleWorker([queue], connection=queue.connection, job_class=Job).work(
            burst=True, logging_level="WARNING"
        )
        return
    call_command("run_worker", batch=True, interval=0, verbosity=0)


def queued() -> int:
    """Jobs waiting in the project's queue."""
    if settings.TASKS_BACKEND == "rq":
        return len(rq_queue())
    return DBTaskResult.objects.ready().count()
