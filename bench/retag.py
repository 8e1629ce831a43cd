"""retag against the hand-written SQL a DBA would run, side by side, on seed_demo's customers.

Per round, each on a fresh tag so both do the same work:
  add     hand: INSERT … SELECT … ON CONFLICT DO NOTHING of the assignments (no history, no
          events)
          retag --all --add T (history rows, one customer.tags_changed event per customer,
          batches, the tag-limit check)
  remove  hand: DELETE … RETURNING feeding an INSERT of the history rows
          retag --all --remove T (history rows, events, batches)
The order alternates between rounds; autovacuum is held off the tables and VACUUM runs between
steps (untimed) so neither side pays for the other's dead rows; the event log is emptied
between steps (untimed), so each retag writes into a table of the same size. Then the peak
memory (max RSS) of ``retag --customers FILE`` over a file of every customer's id, in a
subprocess.

    cd bench && ../.venv/bin/python retag.py [--customers 1000000] [--rounds 2] [--reuse]
    BENCH_DATABASE_URL=sqlite:////tmp/tagdesk-bench.sqlite3 ../.venv/bin/python retag.py
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

from common import ROOT, print_table, setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--tags-per-customer", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--reuse", action="store_true", help="Keep a previous run's customers.")
    args = parser.parse_args()
    setup_django(reset=not args.reuse)

    from io import StringIO

    from django.core.management import call_command
    from django.db import connection

    from config.events.models import Event
    from customers.models import Customer

    if not (args.reuse and Customer.objects.exists()):
        started = time.perf_counter()
        call_command("seed_demo", customers=args.customers, tags=50,
                     tags_per_customer=args.tags_per_customer, segments=5, stderr=StringIO())  # fmt: skip
        print(f"seed_demo: {args.customers:,} customers in {time.perf_counter() - started:.0f} s")
    n = Customer.objects.count()
    pg = connection.vendor == "postgresql"
    events = Event._meta.db_table
    tables = ["customers_customer", "tags_tagassignment", "tags_historicaltagassignment", events]

    def sql(statement: str, params=()) -> int:
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.rowcount

    def maintain() -> None:
        sql(f"DELETE FROM {events}")  # raw: the ORM refuses to delete events
        if pg:
            for table in tables:
                sql(f"VACUUM ANALYZE {table}")
            sql("CHECKPOINT")
        else:
            sql("PRAGMA wal_checkpoint(TRUNCATE)")
            sql("ANALYZE")

    if pg:
        for table in tables:
            sql(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")

    from tags.models import Tag
    from tags.services import tag_create

    def fresh_tag(prefix: str) -> tuple[str, object]:
        """A new tag's name, and its id as the hand-written SQL passes it."""
        tag = tag_create(data={"name": f"{prefix}{time.time_ns()}"}, actor=None, reason="")
        return tag.name, Tag._meta.pk.get_db_prep_value(tag.pk, connection)

    def hand_add(tag_id) -> int:
        return sql(
            "INSERT INTO tags_tagassignment (customer_id, tag_id, category, source, expires_at,"
            " assigned_by_id, created_at) SELECT id, %s, '', 'bulk', NULL, NULL, %s"
            " FROM customers_customer WHERE true ON CONFLICT (customer_id, tag_id) DO NOTHING",
            [tag_id, connection.ops.adapt_datetimefield_value(_now())],
        )

    columns = "id, customer_id, tag_id, category, source, expires_at, assigned_by_id, created_at"
    history = f"{columns}, history_date, history_type, history_user_id, history_change_reason"

    def hand_remove(tag_id) -> int:
        now = connection.ops.adapt_datetimefield_value(_now())
        if pg:
            return sql(
                f"WITH d AS (DELETE FROM tags_tagassignment WHERE tag_id = %s RETURNING {columns})"
                f" INSERT INTO tags_historicaltagassignment ({history})"
                f" SELECT {columns}, %s, '-', NULL, 'bench' FROM d",
                [tag_id, now],
            )
        # SQLite has no DML in WITH: the same two writes as two statements
        sql(
            f"INSERT INTO tags_historicaltagassignment ({history}) SELECT {columns}, %s, '-',"
            " NULL, 'bench' FROM tags_tagassignment WHERE tag_id = %s",
            [now, tag_id],
        )
        return sql("DELETE FROM tags_tagassignment WHERE tag_id = %s", [tag_id])

    def retag(*options: str) -> str:
        out = StringIO()
        call_command("retag", "--all", "--batch-size", str(args.batch_size), *options,
                     stdout=out, stderr=StringIO())  # fmt: skip
        # one event per customer changed, besides the tag's own
        _check(Event.objects.filter(type="customer.tags_changed").count(), n)
        return out.getvalue()

    def clock(fn) -> float:
        maintain()
        started = time.perf_counter()
        fn()
        return time.perf_counter() - started

    times: dict[str, list[float]] = {
        k: [] for k in ("hand add", "retag add", "hand rm", "retag rm")
    }
    for round_ in range(args.rounds):
        (_, hand_tag), (ours, _) = fresh_tag("hand"), fresh_tag("ours")
        steps = [
            ("hand add", lambda t=hand_tag: _check(hand_add(t), n)),
            (
                "retag add",
                lambda o=ours: _check_out(retag("--add", o), f"{n:,} assignment(s) added"),
            ),
        ]
        removes = [
            ("hand rm", lambda t=hand_tag: _check(hand_remove(t), n)),
            ("retag rm", lambda o=ours: _check_out(retag("--remove", o), f"{n:,} removed")),
        ]
        if round_ % 2:
            steps.reverse()
            removes.reverse()
        for name, fn in [*steps, *removes]:
            times[name].append(clock(fn))
            print(f"round {round_ + 1}: {name} {times[name][-1]:.1f} s", file=sys.stderr)

    peak = peak_memory(n)
    vendor = "PostgreSQL" if pg else "SQLite"
    best = {k: min(v) for k, v in times.items()}
    print_table(
        f"retag --all on {n:,} customers, {vendor} (best of {args.rounds}; ratio = retag / hand SQL)",
        ["operation", "hand SQL (s)", "retag (s)", "ratio", "target"],
        [
            ["add (history and events included)", f"{best['hand add']:.1f}",
             f"{best['retag add']:.1f}", f"{best['retag add'] / best['hand add']:.2f}x",
             "<= 2.5x" if pg else "reported"],
            ["remove (history and events included)", f"{best['hand rm']:.1f}",
             f"{best['retag rm']:.1f}", f"{best['retag rm'] / best['hand rm']:.2f}x",
             "<= 2.5x" if pg else "reported"],
        ],
    )  # fmt: skip
    print(f"\npeak memory of retag --customers FILE ({n:,} ids): {peak:.0f} MB (target < 300 MB)")
    if pg:
        for table in tables:
            sql(f"ALTER TABLE {table} RESET (autovacuum_enabled)")


def peak_memory(n: int) -> float:
    """Max RSS of a separate ``retag --customers FILE`` process over every customer's id."""
    from customers.models import Customer

    ids = Customer.objects.order_by("pk").values_list("pk", flat=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.writelines(f"{customer_id}\n" for customer_id in ids.iterator(chunk_size=50_000))
        path = handle.name
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "retag", "--customers", path, "--add", "from_file"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, status, usage = os.wait4(process.pid, 0)
    os.unlink(path)
    if status != 0:
        raise SystemExit(f"retag --customers failed: {process.stderr.read().decode()}")
    return usage.ru_maxrss / 1024


def _now():
    from django.utils import timezone

    return timezone.now()


def _check(count: int, expected: int) -> None:
    assert count == expected, (count, expected)


def _check_out(out: str, expected: str) -> None:
    assert expected in out, out


if __name__ == "__main__":
    main()
