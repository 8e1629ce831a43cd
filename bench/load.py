"""Load benchmark: the production server (gunicorn, production settings) under fixed-rate load.

Recreates the PostgreSQL database ``tagdesk_load`` (``LOAD_DATABASE_URL``), seeds customers
with ``seed_demo``, issues a token, starts gunicorn with ``config/gunicorn.py`` on a free
loopback port the way ``make serve`` does (with ``bench/hand_views.py`` mounted under
``/hand/``: ``bench/load_settings.py``), and drives five scenarios:

- ``healthz``: ``GET /healthz`` (one ``SELECT 1``, no auth): the ceiling of the stack.
- ``list``: ``GET /api/v1/customers/?limit=50`` (a page of customers with their tags).
- ``tag``: ``POST /api/v1/customers/{id}/tag`` adding or removing 1-3 random demo tags.
- ``list-hand``, ``tag-hand``: the same two requests to the hand-written views (same token
  check, permission, statements and bytes, no framework): what the work itself sustains.

The load is open-model: request ``i`` is due at ``start + i / rate`` whether or not earlier
ones have answered, and latency runs from that due time, so a slow server cannot slow the
client down and hide its own queueing (no coordinated omission). Each request is a fresh
connection, as gunicorn's sync workers close it after every response.

Each scenario first runs at a light rate (``--light-rate``, 10/s) to give its service time,
comparable across scenarios. Without ``--rate-*`` flags its sustainable rate is then probed
(short steps of growing rate; a step passes with no errors, at least 95% of its rate achieved
and p99 under ``--slo-ms``) and measured for ``--duration`` seconds at ``--load-factor`` of it,
20% lower again (at most twice) when the full run does not hold. Ratios are against ``/healthz``
on the same server in the same run, as the machines are shared.

    .venv/bin/python bench/load.py [--duration 20] [--rate-tag 150] [--customers 2000]
"""

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import resource
import runpy
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from common import ROOT, percentile, print_table, setup_django

LOAD_DATABASE_URL = os.environ.get(
    "LOAD_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tagdesk_load"
)
HOST = "127.0.0.1"
SCENARIOS = ("healthz", "list", "list-hand", "tag", "tag-hand")
# The hand-written views of bench/hand_views.py: what the same work costs without the framework.
HAND = {"list": "list-hand", "tag": "tag-hand"}


@dataclass
class Result:
    """What one fixed-rate run saw; latencies in seconds from each request's due time."""

    rate: float
    latencies: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    elapsed: float = 0.0
    client_cpu: float = 0.0

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def achieved(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000

    def sustained(self, slo_ms: float) -> bool:
        return not self.errors and self.achieved >= 0.95 * self.rate and self.p(99) <= slo_ms


# --- the server --------------------------------------------------------------------------------


def free_port() -> int:
    """A loopback port nobody listens on, so the bench never collides with make serve (:8000)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def production_server(port: int, workers: int | None) -> Iterator[Path]:
    """gunicorn with the settings ``make serve`` uses, on loopback; stopped on the way out,
    whatever happens (exception, Ctrl-C, SIGTERM). Yields the path of its log."""
    env = {
        **os.environ,
        # config.settings with bench/hand_views.py under /hand/ (the same production stack)
        "DJANGO_SETTINGS_MODULE": "bench.load_settings",
        "DJANGO_ENV": "production",
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "ALLOWED_HOSTS": HOST,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "API_THROTTLE_RATE": "off",
        "DATABASE_URL": LOAD_DATABASE_URL,
        "HOST": HOST,
        "PORT": str(port),
    }
    if workers:
        env["WEB_CONCURRENCY"] = str(workers)
    fd, log_name = tempfile.mkstemp(prefix="tagdesk-load-", suffix=".log")
    log_path = Path(log_name)
    with os.fdopen(fd, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us only; we stop the server ourselves
        )
        try:
            wait_healthy(port, server, log_path)
            yield log_path
        except BaseException:
            print(f"server log kept at {log_path}", file=sys.stderr)
            raise
        finally:
            if server.poll() is None:
                server.terminate()  # gunicorn: graceful shutdown
                try:
                    server.wait(timeout=35)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
    log_path.unlink()  # only reached without an error


def wait_healthy(port: int, server: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Block until /healthz answers 200, so no scenario measures the workers' start-up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({server.returncode}):\n{log.read_text()[-3000:]}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"/healthz did not answer 200 within {timeout:.0f} s")


# --- the load generator ------------------------------------------------------------------------


def http_request(
    method: str, path: str, port: int, token: str | None, body: dict | None = None
) -> bytes:
    """A raw HTTP/1.1 request, built once per request up front so the client stays cheap."""
    payload = b"" if body is None else json.dumps(body).encode()
    head = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", "Connection: close"]
    if token:
        head.append(f"Authorization: Bearer {token}")
    if body is not None:
        head += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


async def fixed_rate(
    make: Callable[[], bytes],
    *,
    port: int,
    rate: float,
    duration: float,
    timeout: float,
    max_in_flight: int,
) -> Result:
    """Send ``rate × duration`` requests, each at its due time, and wait for them all."""
    loop = asyncio.get_running_loop()
    result = Result(rate=rate)
    in_flight = 0

    async def one(due: float, raw: bytes) -> None:
        nonlocal in_flight
        writer = None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(HOST, port)
                writer.write(raw)
                await writer.drain()
                data = await reader.read()
            status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
            if 200 <= status < 300:
                result.latencies.append(loop.time() - due)
            else:
                result.errors[f"HTTP {status}" if status else "bad response"] += 1
        except TimeoutError:
            result.errors["timeout"] += 1
        except OSError as exc:
            result.errors[type(exc).__name__] += 1
        finally:
            in_flight -= 1
            if writer is not None:
                writer.close()
        result.elapsed = max(result.elapsed, loop.time() - start)

    count = max(1, round(rate * duration))
    cpu = time.process_time()
    start = loop.time() + 0.05
    tasks = []
    for i in range(count):
        due = start + i / rate
        if (delay := due - loop.time()) > 0:
            await asyncio.sleep(delay)
        if in_flight >= max_in_flight:
            result.errors["client: too many in flight"] += 1
            continue
        in_flight += 1
        tasks.append(asyncio.create_task(one(due, make())))
    await asyncio.gather(*tasks)
    wall = loop.time() - start
    result.client_cpu = (time.process_time() - cpu) / wall if wall else 0.0
    return result


def run(
    make: Callable[[], bytes], rate: float, duration: float, args: argparse.Namespace
) -> Result:
    """One fixed-rate run in a fresh event loop (no state carried between runs)."""
    return asyncio.run(
        fixed_rate(
            make,
            port=args.port,
            rate=rate,
            duration=duration,
            timeout=args.timeout,
            max_in_flight=args.max_in_flight,
        )
    )


def probe(name: str, make: Callable[[], bytes], args: argparse.Namespace) -> float:
    """The highest rate that passes a short step: grow ×1.5 until a step fails, then bisect
    twice between the last pass and the first failure."""
    rate, passed, failed = args.probe_start, 0.0, None
    while failed is None and rate <= args.probe_max:
        result = run(make, rate, args.probe_seconds, args)
        print(f"  probe {name:8} {rate:8.1f}/s → {describe(result)}", flush=True)
        if result.sustained(args.slo_ms):
            passed, rate = rate, rate * 1.5
        else:
            failed = rate
        time.sleep(1)  # let the server drain before the next step
    for _ in range(2 if failed and passed else 0):
        rate = (passed + failed) / 2
        result = run(make, rate, args.probe_seconds, args)
        print(f"  probe {name:8} {rate:8.1f}/s → {describe(result)}", flush=True)
        if result.sustained(args.slo_ms):
            passed = rate
        else:
            failed = rate
        time.sleep(1)
    if not passed:
        raise SystemExit(f"{name}: not even {args.probe_start}/s is sustainable; see the probe.")
    return passed


def describe(result: Result) -> str:
    """One progress line, printed as the bench goes so a long run shows where it is."""
    errors = ", ".join(f"{k}: {v}" for k, v in result.errors.items()) or "no errors"
    return (
        f"{result.achieved:7.1f}/s, p50 {result.p(50):7.1f} ms, p99 {result.p(99):8.1f} ms, "
        f"{errors}"
    )


# --- setup and report --------------------------------------------------------------------------


def seed(customers: int) -> tuple[str, list[str], list[str]]:
    """Fresh database with demo data; returns a superuser's token, customer ids, tag names."""
    setup_django(url=LOAD_DATABASE_URL)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from config.api.services import token_issue
    from config.edge.management.commands.seed_demo import DEMO_TAGS
    from customers.models import Customer

    call_command("seed_demo", customers=customers, verbosity=0)
    user = get_user_model().objects.create_superuser("load", password=None)
    _, raw = token_issue(user=user, name="load benchmark")
    ids = [str(i) for i in Customer.objects.values_list("id", flat=True)]
    connection.close()
    return raw, ids, list(DEMO_TAGS)


def versions(workers: int, load: tuple[float, float, float]) -> list[list[object]]:
    """What the figures depend on, printed with them: they mean little without it."""
    import django
    import gunicorn
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0]
    connection.close()
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "?",
    )
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return [
        ["CPUs", f"{os.cpu_count()} × {model}"],
        ["memory", f"{pages / 2**30:.0f} GiB"],
        ["Python", platform.python_version()],
        ["Django", django.get_version()],
        ["PostgreSQL", pg],
        ["gunicorn", f"{gunicorn.__version__}, {workers} sync workers (config/gunicorn.py)"],
        ["client", "asyncio in this process, one connection per request, same machine"],
        [
            "load average",
            "{:.2f} {:.2f} {:.2f} before the run (the machine is shared)".format(*load),
        ],
    ]


def main() -> None:
    """Seed, serve, load each scenario, print the tables; the server stops whatever happens."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=20, help="seconds per scenario")
    for name in SCENARIOS:
        parser.add_argument(
            f"--rate-{name}", type=float, metavar="RPS", help="skip the probe, use this rate"
        )
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: its config)")
    parser.add_argument("--slo-ms", type=float, default=200, help="p99 bound of the probe")
    parser.add_argument("--probe-seconds", type=float, default=3)
    parser.add_argument("--probe-start", type=float, default=20)
    parser.add_argument("--probe-max", type=float, default=5000)
    parser.add_argument(
        "--load-factor", type=float, default=0.9, help="measure at this share of the probed rate"
    )
    parser.add_argument(
        "--light-rate", type=float, default=10, help="rate of the service-time run, req/s"
    )
    parser.add_argument("--light-seconds", type=float, default=10)
    parser.add_argument("--timeout", type=float, default=10, help="per request, seconds")
    parser.add_argument("--max-in-flight", type=int, default=2000)
    args = parser.parse_args()
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    args.max_in_flight = min(args.max_in_flight, max(64, soft - 64))

    token, customer_ids, tag_names = seed(args.customers)
    if args.workers:
        os.environ["WEB_CONCURRENCY"] = str(args.workers)
    workers = runpy.run_path(str(ROOT / "config" / "gunicorn.py"))["workers"]
    system = versions(workers, os.getloadavg())
    args.port = free_port()
    rng = random.Random(1)

    def tag_request(prefix: str = "") -> bytes:
        picked = rng.sample(tag_names, rng.randint(1, 3))
        key = "tags_to_add" if rng.random() < 0.5 else "tags_to_remove"
        path = f"{prefix}/api/v1/customers/{rng.choice(customer_ids)}/tag"
        return http_request("POST", path, args.port, token, {key: picked})

    list_raw = http_request("GET", "/api/v1/customers/?limit=50", args.port, token)
    list_hand_raw = http_request("GET", "/hand/api/v1/customers/?limit=50", args.port, token)
    healthz_raw = http_request("GET", "/healthz", args.port, None)
    makers = {
        "healthz": lambda: healthz_raw,
        "list": lambda: list_raw,
        "list-hand": lambda: list_hand_raw,
        "tag": tag_request,
        "tag-hand": lambda: tag_request("/hand"),
    }
    labels = {
        "healthz": "GET /healthz (ceiling)",
        "list": "GET /api/v1/customers/?limit=50",
        "list-hand": "the same, hand view (bench/hand_views.py)",
        "tag": "POST /api/v1/customers/{id}/tag",
        "tag-hand": "the same, hand view (bench/hand_views.py)",
    }

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup on SIGTERM too
    results: dict[str, Result] = {}
    probed: dict[str, float] = {}
    light: dict[str, Result] = {}
    with production_server(args.port, args.workers):
        for name in SCENARIOS:  # warm every worker: imports, database connections, caches
            run(makers[name], 20, 2, args)
        for name in SCENARIOS:  # service time, nearly free of queueing: comparable across scenarios
            light[name] = run(makers[name], args.light_rate, args.light_seconds, args)
            print(
                f"  light {name:8} {args.light_rate:8.1f}/s → {describe(light[name])}", flush=True
            )
        for name in SCENARIOS:
            rate = getattr(args, f"rate_{name.replace('-', '_')}")
            if rate is None:
                probed[name] = probe(name, makers[name], args)
                rate = probed[name] * args.load_factor
            for attempt in range(3):
                print(f"  measure {name:6} {rate:8.1f}/s for {args.duration:.0f} s", flush=True)
                results[name] = run(makers[name], rate, args.duration, args)
                print(f"  {name:14} → {describe(results[name])}", flush=True)
                time.sleep(1)
                if name not in probed or results[name].sustained(args.slo_ms) or attempt == 2:
                    break
                rate *= 0.8  # a short probe step can overrate what holds for the whole run

    system.append(["load average", "{:.2f} {:.2f} {:.2f} after the run".format(*os.getloadavg())])
    print_table("Machine and versions", ["", ""], system)
    ceiling = results["healthz"]
    rows = []
    for name in SCENARIOS:
        result = results[name]
        rows.append(
            [
                labels[name],
                f"{probed[name]:.0f}" if name in probed else "-",
                f"{result.rate:.0f}",
                f"{result.achieved:.1f}",
                f"{result.p(50):.1f}",
                f"{result.p(95):.1f}",
                f"{result.p(99):.1f}",
                sum(result.errors.values()) + sum(light[name].errors.values()),
                "yes" if result.sustained(args.slo_ms) else "no",
                f"{result.achieved / ceiling.achieved:.2f}x",
                (f"{result.achieved / results[HAND[name]].achieved:.2f}x" if name in HAND else "-"),
                f"{light[name].p(50):.1f}",
                f"{light[name].p(50) / light['healthz'].p(50):.1f}x",
                f"{result.client_cpu:.0%}",
            ]
        )
    print_table(
        f"Fixed-rate load, {args.duration:.0f} s per scenario, {args.customers} customers, "
        f"latency from each request's due time (PostgreSQL, gunicorn)",
        [
            "scenario",
            "probed req/s",
            "target req/s",
            "achieved req/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "errors",
            "held",
            "throughput vs ceiling",
            "vs hand view",
            f"p50 ms at {args.light_rate:g}/s",
            "vs ceiling",
            "client CPU",
        ],
        rows,
    )
    print(
        f"achieved and p50/p95/p99: the {args.duration:.0f} s run at the target rate; "
        f"p50 at {args.light_rate:g}/s: a {args.light_seconds:.0f} s run at that rate, "
        "nearly free of queueing (service time); errors: both runs; held: no errors, ≥95% of "
        f"the target achieved and p99 ≤ {args.slo_ms:.0f} ms."
    )
    if probed:
        print(
            f"probed: the highest rate held in {args.probe_seconds:.0f} s steps; "
            f"target: {args.load_factor:.0%} of it, lowered "
            "by 20% (at most twice) when the full run does not hold it."
        )


if __name__ == "__main__":
    main()
