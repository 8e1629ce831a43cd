"""`make run` is one command: the development server, a job worker and the periodic schedule
start together (the schedule's first jobs run), and Ctrl-C stops all of them. On the database
backend, whose jobs table the test reads."""

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 240


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(url: str) -> bool:
    try:
        return urllib.request.urlopen(url, timeout=2).status == 200
    except OSError:
        return False


def processes_in(group: int) -> list[str]:
    listing = subprocess.run(
        ["ps", "-o", "stat=,args=", "-g", str(group)], capture_output=True, text=True
    ).stdout
    return [line for line in listing.splitlines() if line.strip() and not line.startswith("Z")]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_run_starts_the_server_a_worker_and_the_schedule_and_ctrl_c_stops_them(tmp_path):
    database = tmp_path / "run.sqlite3"
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "PORT": str(port),
        "TASKS_BACKEND": "database",
    }
    env.pop("TASKS_QUEUE", None)
    # as from a terminal: a process group of its own, Ctrl-C (SIGINT) not ignored
    run = subprocess.Popen(
        ["make", "-o", "install", "-o", ".venv/.installed", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        finished: list[tuple[str, str]] = []
        while time.monotonic() < deadline:
            assert run.poll() is None, run.stdout.read().decode()
            if answers(f"http://127.0.0.1:{port}/healthz") and database.exists():
                with sqlite3.connect(database, timeout=30) as db:
                    finished = db.execute(
                        "SELECT task_path, status FROM django_tasks_database_dbtaskresult"
                    ).fetchall()
                if len(finished) >= 4 and all(status == "SUCCESSFUL" for _, status in finished):
                    break
            time.sleep(1)
        # the server answers, and the worker ran the schedule's jobs
        assert answers(f"http://127.0.0.1:{port}/healthz")
        assert {path for path, _ in finished} >= {
            "config.edge.tasks.expire_tags",
            "config.edge.tasks.prune_idempotency_keys",
            "config.edge.tasks.prune_events",
            "config.edge.tasks.tidy_jobs",
        }, finished
        assert {status for _, status in finished} == {"SUCCESSFUL"}
        assert len(processes_in(run.pid)) >= 4  # make, its shell, server, worker, schedule
        # when Ctrl-C is pressed, then everything it started stops
        os.killpg(run.pid, signal.SIGINT)
        run.wait(30)
        deadline = time.monotonic() + 30
        while processes_in(run.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert processes_in(run.pid) == []
    finally:
        if processes_in(run.pid):
            os.killpg(run.pid, signal.SIGKILL)
        run.stdout.close()
