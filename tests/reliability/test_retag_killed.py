"""A retag process killed with SIGKILL half-way, then run again, ends as one clean run would."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from tags.models import TagAssignment

ROOT = Path(__file__).resolve().parents[2]
History = TagAssignment.history.model


def retag_process(*args: str) -> subprocess.Popen:
    settings = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT'] or 5432}"
        f"/{settings['NAME']}",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "retag", "--all", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def snapshot(tag_name: str) -> tuple[int, Counter, int]:
    """(customers holding the tag, history rows per type, customers recorded twice)."""
    held = TagAssignment.objects.filter(tag__name=tag_name).count()
    rows = History.objects.filter(tag__name=tag_name)
    per_type = Counter(rows.values_list("history_type", flat=True))
    twice = sum(
        1 for n in Counter(rows.values_list("customer_id", "history_type")).values() if n > 1
    )
    return held, per_type, twice


@pytest.mark.django_db(transaction=True)
def test_a_killed_retag_finishes_on_rerun_like_a_clean_run():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the killed process and the test share a real database")
    call_command("seed_demo", customers=3000, tags=3, tags_per_customer=1, segments=0)
    total = 3000
    process = retag_process("--add", "killed", "--reason", "kill test", "--batch-size", "25")
    deadline = time.monotonic() + 60
    while TagAssignment.objects.filter(tag__name="killed").count() < 200:
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "retag made no progress"
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    held, _, _ = snapshot("killed")
    assert 200 <= held < total, "killed too late to test anything"
    assert held % 25 == 0, "a batch was half-written"

    rerun = retag_process("--add", "killed", "--reason", "kill test", "--batch-size", "25")
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err.decode()
    assert f"{total - held:,} assignment(s) added" in out.decode()

    clean = retag_process("--add", "clean", "--reason", "kill test", "--batch-size", "25")
    assert clean.wait(timeout=120) == 0
    assert snapshot("killed") == snapshot("clean") == (total, Counter({"+": total}), 0)
    reasons = set(
        History.objects.filter(tag__name="killed").values_list("history_change_reason", flat=True)
    )
    assert reasons == {"kill test"}
