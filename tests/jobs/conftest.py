import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import django_rq
import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.db import connection
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


# --- a real worker process against a database shared with the test ------------------------

ROOT = Path(__file__).resolve().parents[2]


class SharedDatabase:
    def __init__(self, url: str, sqlite_path: Path | None):
        self.url = url
        self.sqlite_path = sqlite_path

    def env(self) -> dict:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": self.url,
            "TASKS_QUEUE": settings.TASKS_QUEUE,
            "TASKS_BACKEND": settings.TASKS_BACKEND,
        }

    def manage(self, *args: str, timeout: int = 300) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def worker(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "manage.py", "run_worker", *args],
            cwd=ROOT,
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def scalar(self, sql: str):
        if self.sqlite_path is None:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchone()[0]
        with sqlite3.connect(self.sqlite_path, timeout=30) as db:
            return db.execute(sql).fetchone()[0]

    def execute(self, sql: str) -> None:
        if self.sqlite_path is None:
            with connection.cursor() as cursor:
                cursor.execute(sql)
            return
        with sqlite3.connect(self.sqlite_path, timeout=30) as db:
            db.execute(sql)


@pytest.fixture
def shared_database(tmp_path, backend) -> SharedDatabase:
    if connection.vendor == "postgresql":
        s = connection.settings_dict
        url = f"postgres://{s['USER']}@{s['HOST']}:{s['PORT'] or 5432}/{s['NAME']}"
        return SharedDatabase(url, None)
    path = tmp_path / "jobs.sqlite3"
    database = SharedDatabase(f"sqlite:///{path}", path)
    database.manage("migrate", "--noinput")
    return database


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants: an RQ worker runs each job in a forked work-horse, in a
    session of its own, so killing the worker's process group would leave the job running."""
    children = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True
    ).stdout.split()
    return [pid, *(p for child in children for p in process_tree(int(child)))]


def kill_hard(pid: int) -> None:
    """SIGKILL the worker and whatever runs its job, as when its machine goes away."""
    for process in reversed(process_tree(pid)):
        # an RQ work-horse may have finished its job (and exited) since it was listed
        with contextlib.suppress(ProcessLookupError):
            os.kill(process, signal.SIGKILL)


@pytest.fixture
def small(settings):
    """Change-sets go to the background over 3 customers, 2 a batch."""
    settings.CHANGE_SET_SYNC_MAX = 3
    settings.CHANGE_SET_BATCH_SIZE = 2
