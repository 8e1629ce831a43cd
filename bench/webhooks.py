"""Webhook deliveries per second to a local receiver with N workers, next to a bare HTTP client
posting the same bodies with the same concurrency, in the same run.

The receiver (a threaded stdlib HTTP/1.1 server answering 204, keep-alive) runs in a process
of its own. For each N: EVENTS events are fanned out to one endpoint, N `manage.py run_worker`
processes are started and, once they are up, send jobs are enqueued (one per batch of
WEBHOOK_BATCH_SIZE, as the dispatch does): each worker claims batches of due deliveries,
renders, signs and POSTs them (WEBHOOK_SEND_THREADS, at most 4 connections to one endpoint,
keep-alive) and records the attempts. The time is from the enqueue to the last delivery
recorded (on PostgreSQL after an ANALYZE of the deliveries, as autovacuum would have run).

The bare client is N processes of as many threads as one worker opens connections to the
endpoint, POSTing the same signed bodies, nothing claimed, rendered, signed or recorded: first
with the worker's own transport (``transport.Sender``, keep-alive: the goal's ratio, what the
webhook machinery costs beyond the POSTs), then with the standard library's ``http.client``
over keep-alive connections, and with a new connection per request.

    cd bench && ../.venv/bin/python webhooks.py [--events 10000] [--workers 1 2 4]
    WEBHOOKS_BENCH_DATABASE_URL=sqlite:////tmp/tagdesk-webhooks.sqlite3 ../.venv/bin/python webhooks.py
    ../.venv/bin/python webhooks.py --profile   # pyinstrument: one worker's send job, in-process
    ../.venv/bin/python webhooks.py --phases --events 20000   # CPU and wall time per phase
"""

import argparse
import functools
import http.client
import math
import multiprocessing
import os
import resource
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from common import ROOT, print_table, setup_django

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/tagdesk_bench_webhooks"


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

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
    """One process of the bare client: ``threads`` threads, each POSTing its share in turn,
    over one kept-alive connection or a new connection per request."""
    port, requests, threads, keep_alive = args

    def lane(share) -> int:
        connection = None
        for body, headers in share:
            for attempt in range(3):
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
                try:
                    connection.request("POST", "/hooks", body=body, headers=headers)
                    connection.getresponse().read()
                    break
                except (ConnectionResetError, http.client.RemoteDisconnected):
                    # the stdlib receiver resets some of thousands of new connections a
                    # second under 16 connecting threads: sent again, as the worker would
                    connection.close()
                    connection = None
                    if attempt == 2:
                        raise
            if not keep_alive and connection is not None:
                connection.close()
                connection = None
        if connection is not None:
            connection.close()
        return len(share)

    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(lane, [requests[i::threads] for i in range(threads)]))


def sender_post(args) -> int:
    """One process of the bare client on the worker's own transport (``transport.Sender``:
    the same request bytes, the same answer parser, one kept-alive connection per thread),
    nothing else: no claim, no rendering, no signing, no record."""
    from config.webhooks import transport

    port, requests, threads, _ = args
    url = f"http://127.0.0.1:{port}/hooks"

    def lane(share) -> int:
        with transport.Sender(15) as sender:
            for body, headers in share:
                assert sender.post(url=url, body=body, headers=headers).succeeded
        return len(share)

    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(lane, [requests[i::threads] for i in range(threads)]))


def bare_rate(
    port: int, requests: list, workers: int, threads: int, keep_alive: bool, client=bare_post
) -> float:
    shares = [(port, requests[i::workers], threads, keep_alive) for i in range(workers)]
    started = time.perf_counter()
    with multiprocessing.Pool(workers) as pool:
        posted = sum(pool.map(client, shares))
    return posted / (time.perf_counter() - started)


def start_workers(count: int, env: dict) -> list[subprocess.Popen]:
    """``count`` workers polling the queue every 50 ms, returned once each has started."""
    processes = [
        subprocess.Popen(
            [sys.executable, "manage.py", "run_worker", "--interval", "0.05", "-v", "1"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # the log, where the worker says it has started
            text=True,
        )
        for _ in range(count)
    ]
    for process in processes:
        for line in process.stdout:
            if "Starting worker" in line:
                break
        # the rest of its output is not needed, but must not fill the pipe
        threading.Thread(target=process.stdout.read, daemon=True).start()
    time.sleep(1.2)  # the worker's random start-up delay (up to 1 s)
    return processes


def print_phases(send: Callable[[], dict]) -> None:
    """One worker's send job in-process: deliveries/s, the process's CPU per delivery, and
    each phase's CPU (the threads' own time) and wall time per delivery."""
    from config.webhooks import services, transport

    cpu, wall, lock = Counter(), Counter(), threading.Lock()

    def timed(owner, name: str, label: str) -> None:
        function = getattr(owner, name)

        @functools.wraps(function)
        def measured(*args, **kwargs):
            started, clock = time.thread_time(), time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                with lock:
                    cpu[label] += time.thread_time() - started
                    wall[label] += time.perf_counter() - clock

        setattr(owner, name, measured)

    timed(services, "webhook_deliveries_claim", "claim (job's thread)")
    timed(services, "_bodies", "events read and rendered (job's thread)")
    timed(services, "webhook_deliveries_record", "record (job's thread)")
    timed(services, "sign_headers", "sign (sending threads)")
    timed(transport.Sender, "post", "POST (sending threads)")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    done = send()
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    count = done["attempted"]
    process = (after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime) / count
    print_table(
        f"One send job in-process: {count:,} deliveries, {count / seconds:,.0f}/s, "
        f"process CPU {process * 1e6:.0f} µs per delivery",
        ["phase", "CPU µs/delivery", "wall µs/delivery"],
        [[k, f"{v / count * 1e6:.1f}", f"{wall[k] / count * 1e6:.1f}"] for k, v in cpu.items()],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--phases", action="store_true")
    args = parser.parse_args()
    os.environ["WEBHOOK_ALLOW_PRIVATE"] = "1"
    url = os.environ.get("WEBHOOKS_BENCH_DATABASE_URL", DEFAULT_URL)
    setup_django(reset=True, url=url, settings_module="config.settings")

    from datetime import UTC, datetime

    import django_rq
    from django.conf import settings
    from django.db import connection, transaction
    from django_tasks_db.models import DBTaskResult

    from config.events.services import EventDraft, events_record_many
    from config.fields import new_ulid
    from config.webhooks import services
    from config.webhooks.models import WebhookDelivery, WebhookEndpoint
    from config.webhooks.tasks import SEND_JOB_SECONDS, render_events, webhook_send_due

    ports = multiprocessing.Queue()
    sink = multiprocessing.Process(target=serve, args=(ports,), daemon=True)
    sink.start()
    port = ports.get(timeout=10)
    services.webhook_endpoint_create(data={"url": f"http://127.0.0.1:{port}/hooks", "types": ["*"]})
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": url}
    env["PYTHONUNBUFFERED"] = "1"
    lanes = min(services.LANES_PER_ENDPOINT, settings.WEBHOOK_SEND_THREADS)

    def owe() -> list:
        """EVENTS events fanned out into deliveries; the deliveries."""
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
        if connection.vendor == "postgresql":
            # what autovacuum does soon after a table grows: the claim's plan reads the due
            # index in order and stops at a batch (without statistics it sorts every due row)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE webhooks_webhookdelivery")
        return list(WebhookDelivery.objects.pending().select_related("endpoint"))

    if args.profile:
        from pyinstrument import Profiler

        owe()
        profiler = Profiler()
        with profiler:
            done = services.webhooks_send_due(render=render_events, seconds=SEND_JOB_SECONDS)
        print(done)
        print(profiler.output_text(unicode=True, color=False, show_all=False))
        sink.terminate()
        return

    if args.phases:
        owe()
        print_phases(lambda: services.webhooks_send_due(render=render_events, seconds=600))
        sink.terminate()
        return

    rows = []
    for workers in args.workers:
        pending = owe()
        # The same bodies and headers, for the bare client.
        rendered = render_events([d.event_id for d in pending])
        requests = []
        for delivery in pending:
            text = services.body_text(delivery, rendered[delivery.event_id])
            headers = services.sign_headers(
                endpoint=delivery.endpoint, message_id=delivery.event_id, body=text,
                now=datetime.now(UTC), sent_at=datetime.now(UTC),
            )  # fmt: skip
            requests.append((text.encode(), {**headers, "Content-Type": "application/json"}))
        ids = [d.event_id for d in pending]
        connection.close()
        processes = start_workers(workers, env)
        started = time.perf_counter()
        for _ in range(math.ceil(len(pending) / settings.WEBHOOK_BATCH_SIZE)):
            webhook_send_due.enqueue()
        # Polled cheaply (the pending rows' partial index; this round's are the only ones
        # pending): a count over the round's ids every 20 ms took a third of a core from the
        # worker it timed.
        deadline = time.monotonic() + 600
        while WebhookDelivery.objects.pending().exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        ours = time.perf_counter() - started
        sent = WebhookDelivery.objects.filter(state="succeeded", event_id__in=ids).count()
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)
        # Send jobs the round left waiting (one was enqueued per batch; a job sends batch after
        # batch, so most find nothing): the next round's workers would run them while they
        # start, before its clock starts.
        if settings.TASKS_BACKEND == "database":
            DBTaskResult.objects.ready().filter(task_path=webhook_send_due.module_path).delete()
        else:
            django_rq.get_queue(webhook_send_due.queue_name).empty()
        same = bare_rate(port, requests, workers, lanes, keep_alive=True, client=sender_post)
        kept = bare_rate(port, requests, workers, lanes, keep_alive=True)
        fresh = bare_rate(port, requests, workers, lanes, keep_alive=False)
        rate = sent / ours
        rows.append(
            [
                workers,
                f"{sent:,}/{len(pending):,}",
                f"{rate:,.0f}",
                f"{same:,.0f}",
                f"{rate / same:.2f}×",
                f"{kept:,.0f}",
                f"{rate / kept:.2f}×",
                f"{fresh:,.0f}",
                f"{rate / fresh:.2f}×",
            ]
        )
    WebhookEndpoint.objects.all().delete()
    sink.terminate()
    print_table(
        f"Webhook deliveries to a local receiver ({connection.vendor}, {args.events:,} per run, "
        f"batches of {settings.WEBHOOK_BATCH_SIZE}, {lanes} connections per worker)",
        [
            "workers",
            "delivered",
            "deliveries/s",
            "bare, same sender/s",
            "ratio",
            "bare http.client/s",
            "ratio",
            "bare new conn./s",
            "ratio",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
