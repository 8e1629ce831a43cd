"""Fault test: events to three endpoints while real worker processes are killed with SIGKILL
twice and the receiver is down for a while. Afterwards every (endpoint, event) pair owed was
delivered at least once, every request verifies with the endpoint's secret (checked on
receipt, by the standardwebhooks library, as a receiver would), and no endpoint got an event
its filter excludes.

1,000 events by default (``make test``, CI); ``WEBHOOK_FAULT_EVENTS=10000`` from
``make test-slow``. The retry waits are compressed (``WEBHOOK_RETRY_SCALE``) and the request
timeout shortened (so is a claim's lease, which derives from it), so recovery takes seconds;
the schedule (cron) is played by a process enqueueing the dispatch every 3 seconds unless one
is waiting."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.jobs.conftest import ROOT, SharedDatabase, kill_hard

pytestmark = [pytest.mark.jobs, pytest.mark.django_db(transaction=True)]

EVENTS = int(os.environ.get("WEBHOOK_FAULT_EVENTS", "1000"))
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
    """Verifies each request on receipt with its endpoint's secret; keeps connections alive
    (HTTP/1.1); can go down (its open connections cut too) and come back on the same port."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.received: list[tuple[str, str, str]] = []  # (path, webhook-id, type)
        self.unverified: list[str] = []
        self.lock = threading.Lock()
        self.port = 0
        self.server: ThreadingHTTPServer | None = None
        self.open: set[socket.socket] = set()

    def handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with receiver.lock:
                    receiver.open.add(self.connection)

            def finish(self) -> None:
                with receiver.lock:
                    receiver.open.discard(self.connection)
                super().finish()

            def answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:  # cut off (the receiver going down): no request
                    self.close_connection = True
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    event = Webhook(receiver.secrets[self.path]).verify(body, headers)
                except (WebhookVerificationError, KeyError):
                    with receiver.lock:
                        receiver.unverified.append(self.path)
                    self.answer(400)
                    return
                with receiver.lock:
                    receiver.received.append((self.path, headers["webhook-id"], event["type"]))
                self.answer(204)

            def log_message(self, *args) -> None:
                pass

        return Handler

    def up(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler())
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # a sender killed mid-request
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            for connection in self.open:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)


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


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.2)


# What cron does, every 3 seconds: enqueue the dispatch unless one is waiting (one process for
# the whole test, not one per tick: starting Django costs a second of CPU).
CRON = """
import time
from config.jobs import job_waiting
from config.webhooks.tasks import webhooks_dispatch as dispatch
while True:
    if not job_waiting(dispatch):
        dispatch.enqueue()
    time.sleep(3)
"""


def test_every_pair_is_delivered_despite_killed_workers_and_a_receiver_down(
    shared_database, monkeypatch, tmp_path
):
    db = shared_database
    for name, value in {
        "WEBHOOK_ALLOW_PRIVATE": "1",
        "WEBHOOK_RETRY_SCALE": "0.002",
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
    cron = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", CRON],
        cwd=ROOT,
        env=db.env(),
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "cron.log", "w"),  # noqa: SIM115 (closed with the process)
    )
    try:
        # when a worker runs, and is killed once some deliveries went out
        workers.append(worker())
        wait_until(lambda: delivered(db) >= EVENTS // 10, "some were delivered")
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
        wait_until(lambda: delivered(db) >= expected_pairs, "all were delivered")
    finally:
        cron.kill()
        cron.wait(30)
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
