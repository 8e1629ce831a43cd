"""Fault test: events to three endpoints while real worker processes are killed with SIGKILL
twice and the receiver is down for a while. Afterwards every (endpoint, event) pair owed was
delivered at least once, every request verifies with the endpoint's secret (checked on
receipt, by the standardwebhooks library, as a receiver would), and no endpoint got an event
its filter excludes.

300 events by default (``make test``, CI) while a delivery costs a job of its own (about 10
deliveries/s: 1,000 events would add minutes to every run); ``WEBHOOK_FAULT_EVENTS=10000``
from ``make test-slow``. The
retry waits are compressed (``WEBHOOK_RETRY_SCALE``) and the wake lease and the request timeout
shortened, so recovery takes seconds; the schedule (cron) is played by the test enqueueing the
dispatch every 3 seconds unless one is waiting."""

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.jobs.conftest import ROOT, SharedDatabase, kill_hard

pytestmark = [pytest.mark.jobs, pytest.mark.django_db(transaction=True)]

EVENTS = int(os.environ.get("WEBHOOK_FAULT_EVENTS", "300"))
TYPES = (
    "customer.created",
    "customer.updated",
    "customer.tags_changed",
    "customer.deleted",
    "tag.created",
    "segment.updated",
)
FILTERS = {"/a": ["customer.*"], "/b": ["tag.created", "customer.deleted"], "/c": ["*"]}
WAIT_SECONDS = 600 + EVENTS // 10


class FaultReceiver:
    """Verifies each request on receipt with its endpoint's secret; can go down and come back
    on the same port."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.received: list[tuple[str, str, str]] = []  # (path, webhook-id, type)
        self.unverified: list[str] = []
        self.lock = threading.Lock()
        self.port = 0
        self.server: ThreadingHTTPServer | None = None

    def handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    event = Webhook(receiver.secrets[self.path]).verify(body, headers)
                except (WebhookVerificationError, KeyError):
                    with receiver.lock:
                        receiver.unverified.append(self.path)
                    self.send_response(400)
                    self.end_headers()
                    return
                with receiver.lock:
                    receiver.received.append((self.path, headers["webhook-id"], event["type"]))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        return Handler

    def up(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def python(db: SharedDatabase, code: str) -> str:
    return db.manage("shell", "-c", code).strip().splitlines()[-1]


def write_events(db: SharedDatabase, count: int, offset: int) -> None:
    python(
        db,
        "from django.db import transaction\n"
        "from config.events.services import EventDraft, events_record_many\n"
        "from ulid import ULID\n"
        "customers = [str(ULID()).lower() for _ in range(50)]\n"
        f"types = {TYPES!r}\n"
        f"for start in range({offset}, {offset + count}, 500):\n"
        "    with transaction.atomic():\n"
        "        events_record_many(events=[EventDraft(type=types[i % len(types)], "
        "customer_id=customers[i % 50] if types[i % len(types)].startswith('customer.') "
        f"else None) for i in range(start, min(start + 500, {offset + count}))])\n"
        "print('ok')",
    )


def delivered(db: SharedDatabase) -> int:
    return db.scalar("SELECT COUNT(*) FROM webhooks_webhookdelivery WHERE state = 'succeeded'")


def wait_until(condition, what: str, schedule) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    next_tick = 0.0
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        if time.monotonic() >= next_tick:
            schedule()
            next_tick = time.monotonic() + 3
        time.sleep(0.2)


def test_every_pair_is_delivered_despite_killed_workers_and_a_receiver_down(
    shared_database, monkeypatch, tmp_path
):
    db = shared_database
    for name, value in {
        "WEBHOOK_ALLOW_PRIVATE": "1",
        "WEBHOOK_RETRY_SCALE": "0.002",
        "WEBHOOK_WAKE_LEASE_SECONDS": "20",
        "WEBHOOK_TIMEOUT_SECONDS": "2",
        "WEBHOOK_DISPATCH_SECONDS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    receiver = FaultReceiver()
    receiver.up()
    # given three endpoints with different filters, and the first half of the events
    created = json.loads(
        python(
            db,
            "import json\n"
            "from config.webhooks.services import webhook_endpoint_create\n"
            "out = {}\n"
            f"for path, types in {FILTERS!r}.items():\n"
            f"    e, s = webhook_endpoint_create(data={{'url': 'http://127.0.0.1:{receiver.port}' "
            "+ path, 'types': types})\n"
            "    out[path] = s\n"
            "print(json.dumps(out))",
        )
    )
    receiver.secrets.update(created)
    write_events(db, EVENTS // 2, 0)
    expected_pairs = 0

    def schedule() -> None:  # what cron does: enqueue the dispatch unless one is waiting
        python(db, "from config.jobs import job_waiting\n"
               "from config.webhooks.tasks import webhooks_dispatch as d\n"
               "None if job_waiting(d) else d.enqueue(); print('ok')")  # fmt: skip

    def worker() -> subprocess.Popen:
        with open(tmp_path / f"worker-{len(workers)}.log", "w") as log:
            return subprocess.Popen(
                [sys.executable, "manage.py", "run_worker", "--interval", "0.2"],
                cwd=ROOT,
                env=db.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    workers = []
    try:
        # when a worker runs, and is killed once some deliveries went out
        workers.append(worker())
        wait_until(lambda: delivered(db) >= EVENTS // 10, "some were delivered", schedule)
        kill_hard(workers[-1].pid)
        workers[-1].wait(30)
        # and the receiver goes down while a second worker runs, the rest of the events come,
        # and that worker is killed too once it has failed against the receiver for a while
        receiver.down()
        workers.append(worker())
        write_events(db, EVENTS - EVENTS // 2, EVENTS // 2)
        wait_until(
            lambda: (
                db.scalar("SELECT COUNT(*) FROM webhooks_webhookattempt WHERE status IS NULL") >= 20
            ),
            "attempts failed against the receiver",
            schedule,
        )
        kill_hard(workers[-1].pid)
        workers[-1].wait(30)
        # and the receiver comes back with a third worker
        receiver.up()
        workers.append(worker())
        events = json.loads(
            python(
                db,
                "import json\nfrom config.events.models import Event\n"
                "print(json.dumps(list(Event.objects.values_list('id', 'type'))))",
            )
        )
        assert len(events) == EVENTS
        owed = {
            (path, event_id)
            for event_id, event_type in events
            for path, types in FILTERS.items()
            if "*" in types
            or event_type in types
            or any(t.endswith(".*") and event_type.startswith(t[:-1]) for t in types)
        }
        expected_pairs = len(owed)
        wait_until(lambda: delivered(db) >= expected_pairs, "all were delivered", schedule)
    finally:
        for worker in workers:
            if worker.poll() is None:
                kill_hard(worker.pid)
                worker.wait(30)
        receiver.down()
    # then every pair owed was delivered at least once, signed with its endpoint's secret,
    # and nothing went where its filter excludes it
    received = {(path, event_id) for path, event_id, _ in receiver.received}
    assert received == owed
    assert receiver.unverified == []
    assert db.scalar("SELECT COUNT(*) FROM webhooks_webhookdelivery") == expected_pairs
    assert delivered(db) == expected_pairs
    # the kills and the outage happened: attempts failed, and some were repeated
    assert db.scalar("SELECT COUNT(*) FROM webhooks_webhookattempt WHERE status IS NULL") >= 20
