"""Helpers shared by the benchmarks: a fresh PostgreSQL database and a table printer."""

import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django(
    reset: bool = True, url: str | None = None, settings_module: str = "bench.settings"
) -> None:
    """Point Django at the bench database (recreated when ``reset``) and migrate it.

    ``url`` overrides ``BENCH_DATABASE_URL``, so a benchmark can keep a database of its own.
    ``settings_module="config.settings"`` runs the project's own settings on that database
    (``DATABASE_URL``: its SQLite options, WAL and IMMEDIATE transactions, for concurrent
    writers).
    """
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    if url:
        os.environ["BENCH_DATABASE_URL"] = url  # read by bench.settings
        if settings_module == "config.settings":
            os.environ["DATABASE_URL"] = url
    import dj_database_url
    import psycopg

    url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tagdesk_bench")
    params = dj_database_url.parse(url)
    if params["ENGINE"].endswith("sqlite3"):
        if reset:
            for suffix in ("", "-wal", "-shm"):
                Path(params["NAME"] + suffix).unlink(missing_ok=True)
        return _migrate()
    admin = psycopg.connect(
        host=params["HOST"], port=params["PORT"] or 5432, user=params["USER"], dbname="postgres",
        autocommit=True,
    )  # fmt: skip
    if reset:
        admin.execute(f'DROP DATABASE IF EXISTS "{params["NAME"]}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{params["NAME"]}"')
    admin.close()
    _migrate()


def _migrate() -> None:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", run_syncdb=True, verbosity=0)


def timed(fn: Callable[[], object], repeat: int = 1) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def print_table(title: str, headers: list[str], rows: list[list[object]]) -> None:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0–100): a value that was really observed, so a p99 of
    few samples is the worst of them rather than an interpolation."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]
