"""Webhook deliveries per second to a local receiver with N workers, next to a bare HTTP client
posting the same bodies with the same concurrency, in the same run.

The receiver (a threaded stdlib HTTP server answering 204) runs in a process of its own. For
each N: EVENTS events are fanned out to one endpoint, their deliveries woken (enqueued), and N
`manage.py run_worker --batch` processes send them (a job each: claim, render, sign, POST,
record the attempt); the time is from the workers' start to the last delivery recorded. The
bare client is N processes each POSTing its share of the same signed bodies with
``http.client``, a new connection per request like the sender, nothing recorded.

    cd bench && ../.venv/bin/python webhooks.py [--events 2000] [--workers 1 2 4]
    WEBHOOKS_BENCH_DATABASE_URL=sqlite:////tmp/tagdesk-webhooks.sqlite3 ../.venv/bin/python webhooks.py
"""

import argparse
import http.client
import multiprocessing
import os
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from common import ROOT, print_table, setup_django

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/tagdesk_bench_webhooks"


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def serve(port_queue) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    server.daemon_threads = True
    server.request_queue_size = 1024
    port_queue.put(server.server_address[1])
    server.serve_forever()


def bare_post(args) -> int:
    port, requests = args
    for body, headers in requests:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        connection.request("POST", "/hooks", body=body, headers=headers)
        connection.getresponse().read()
        connection.close()
    return len(requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    os.environ["WEBHOOK_ALLOW_PRIVATE"] = "1"
    url = os.environ.get("WEBHOOKS_BENCH_DATABASE_URL", DEFAULT_URL)
    setup_django(reset=True, url=url)

    from datetime import UTC, datetime

    from django.db import connection, transaction

    from config.events.models import Event
    from config.events.services import EventDraft, events_record_many
    from config.fields import new_ulid
    from config.webhooks import services
    from config.webhooks.models import WebhookDelivery, WebhookEndpoint
    from config.webhooks.tasks import render_body, webhook_send

    ports = multiprocessing.Queue()
    sink = multiprocessing.Process(target=serve, args=(ports,), daemon=True)
    sink.start()
    port = ports.get(timeout=10)
    services.webhook_endpoint_create(data={"url": f"http://127.0.0.1:{port}/hooks", "types": ["*"]})
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings", "BENCH_DATABASE_URL": url}
    rows = []
    for workers in args.workers:
        with transaction.atomic():
            events_record_many(
                events=[
                    EventDraft(type="customer.tags_changed", customer_id=new_ulid(),
                               data={"added": [{"name": "vip"}], "removed": [], "reason": "bench"})
                    for _ in range(args.events)
                ]
            )  # fmt: skip
        # PostgreSQL serves events once every older transaction on the server has ended.
        deadline = time.monotonic() + 120
        while WebhookDelivery.objects.pending().count() < args.events:
            assert time.monotonic() < deadline, "the feed did not serve the events"
            services.webhooks_fan_out()
            time.sleep(0.05)
        pending = list(WebhookDelivery.objects.pending().select_related("endpoint"))
        # The same bodies and headers, for the bare client.
        events = Event.objects.in_bulk([d.event_id for d in pending])
        requests = []
        for delivery in pending:
            text = services.body_json(render_body(delivery, events[delivery.event_id]))
            headers = services.sign_headers(
                endpoint=delivery.endpoint, message_id=delivery.event_id, body=text,
                now=datetime.now(UTC), sent_at=datetime.now(UTC),
            )  # fmt: skip
            requests.append((text.encode(), {**headers, "Content-Type": "application/json"}))
        for delivery_id in services.webhooks_wake(limit=len(pending)):
            webhook_send.enqueue(delivery_id)
        connection.close()
        started = time.perf_counter()
        processes = [
            subprocess.Popen(
                [sys.executable, "manage.py", "run_worker", "--batch", "--interval", "0"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]
        for process in processes:
            process.wait()
        ours = time.perf_counter() - started
        sent = WebhookDelivery.objects.filter(
            state="succeeded", event_id__in=[d.event_id for d in pending]
        ).count()
        shares = [(port, requests[i::workers]) for i in range(workers)]
        started = time.perf_counter()
        with multiprocessing.Pool(workers) as pool:
            posted = sum(pool.map(bare_post, shares))
        bare = time.perf_counter() - started
        rows.append(
            [
                workers,
                f"{sent:,}/{len(pending):,}",
                f"{sent / ours:,.0f}",
                f"{posted / bare:,.0f}",
                f"{(sent / ours) / (posted / bare):.2f}×",
            ]
        )
    WebhookEndpoint.objects.all().delete()
    sink.terminate()
    print_table(
        f"Webhook deliveries to a local receiver ({connection.vendor}, {args.events:,} per run)",
        ["workers", "delivered", "deliveries/s", "bare client posts/s", "ratio"],
        rows,
    )


if __name__ == "__main__":
    main()
