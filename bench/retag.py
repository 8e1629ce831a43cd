"""retag against the hand-written SQL a DBA would run, side by side, on seed_demo's customers.

Per round, each on a fresh tag so both do the same work:
  add     hand: INSERT … SELECT … ON CONFLICT DO NOTHING of the assignments (no history, no
          events)
          retag --all --add T (history rows, one customer.tags_changed event per customer,
          batches, the tag-limit check); it records a change-set
  revert  hand: DELETE of the assignments a second ``retag --all --add`` change-set added
          (its "+" history rows' customer and tag) feeding an INSERT of their history rows
          retag --revert ID of the timed add's change-set (history rows, events, the
          conflict check, the change-sets' bookkeeping); after both, the assignments are
          back to what they were before the round (checked)
  remove  hand: DELETE … RETURNING feeding an INSERT of the history rows
          retag --all --remove T (history rows, events, batches), of a tag added by hand
          before (untimed): the timed add's tag is gone with its revert
The order alternates between rounds; autovacuum is held off the tables and VACUUM runs between
steps (untimed) so neither side pays for the other's dead rows; the event log is emptied
between steps (untimed), so each retag writes into a table of the same size. Then the peak
memory (max RSS) of ``retag --customers FILE`` over a file of every customer's id, and of
``retag --revert ID`` of the change-set it recorded, each in a subprocess.

    cd bench && ../.venv/bin/python retag.py [--customers 1000000] [--rounds 2] [--reuse]
    BENCH_DATABASE_URL=sqlite:////tmp/tagdesk-bench.sqlite3 ../.venv/bin/python retag.py
"""

import argparse
import os
import re
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

    from tags.models import Tag, TagAssignment
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

    history_table = TagAssignment.history.model._meta.db_table

    def hand_revert(change_set_id: str) -> int:
        """What a DBA would run to undo a ``retag --add``: delete the assignments its "+"
        history rows name (customer and tag), with a "-" history row each."""
        now = connection.ops.adapt_datetimefield_value(_now())
        key = (
            TagAssignment.history.model._meta.get_field("change_set_id")
            .get_db_prep_value(change_set_id, connection, prepared=False)
        )  # fmt: skip
        added = (
            f"SELECT customer_id, tag_id FROM {history_table} WHERE change_set_id = %s"
            " AND history_type = '+'"
        )
        if pg:
            returning = ", ".join(f"a.{c.strip()}" for c in columns.split(","))
            return sql(
                f"WITH d AS (DELETE FROM tags_tagassignment a USING ({added}) h"
                " WHERE a.customer_id = h.customer_id AND a.tag_id = h.tag_id"
                f" RETURNING {returning}) INSERT INTO {history_table} ({history})"
                f" SELECT {columns}, %s, '-', NULL, 'bench' FROM d",
                [key, now],
            )
        sql(
            f"INSERT INTO {history_table} ({history}) SELECT {columns}, %s, '-', NULL, 'bench'"
            f" FROM tags_tagassignment WHERE (customer_id, tag_id) IN ({added})",
            [now, key],
        )
        return sql(
            f"DELETE FROM tags_tagassignment WHERE (customer_id, tag_id) IN ({added})", [key]
        )

    def retag(*options: str) -> str:
        out = StringIO()
        call_command("retag", "--all", "--batch-size", str(args.batch_size), *options,
                     stdout=out, stderr=StringIO())  # fmt: skip
        # one event per customer changed, besides the tag's own
        _check(Event.objects.filter(type="customer.tags_changed").count(), n)
        return out.getvalue()

    def retag_add(name: str, change_sets: dict) -> None:
        """``retag --all --add name``; the id of the change-set it recorded into
        ``change_sets[name]``."""
        out = retag("--add", name)
        _check_out(out, f"{n:,} assignment(s) added")
        change_sets[name] = _change_set_of(out)

    def retag_revert(change_set_id: str) -> None:
        out = StringIO()
        call_command("retag", "--revert", change_set_id, "--batch-size", str(args.batch_size),
                     stdout=out, stderr=StringIO())  # fmt: skip
        _check_out(out.getvalue(), f"0 assignment(s) restored, {n:,} removed, 0 conflict(s)")
        _check(Event.objects.filter(type="customer.tags_changed").count(), n)

    def clock(fn) -> float:
        maintain()
        started = time.perf_counter()
        fn()
        return time.perf_counter() - started

    def timed(round_: int, steps: list) -> None:
        if round_ % 2:
            steps.reverse()
        for name, fn in steps:
            times[name].append(clock(fn))
            print(f"round {round_ + 1}: {name} {times[name][-1]:.1f} s", file=sys.stderr)

    times: dict[str, list[float]] = {
        k: [] for k in ("hand add", "retag add", "hand rv", "retag rv", "hand rm", "retag rm")
    }
    for round_ in range(args.rounds):
        before = TagAssignment.objects.count()
        (hand_name, hand_tag), (ours, _) = fresh_tag("hand"), fresh_tag("ours")
        (theirs, _), (_, hand_tag2) = fresh_tag("theirs"), fresh_tag("hand")
        change_sets: dict[str, str] = {}
        timed(round_, [
            ("hand add", lambda t=hand_tag: _check(hand_add(t), n)),
            ("retag add", lambda o=ours, c=change_sets: retag_add(o, c)),
        ])  # fmt: skip
        # the change-set the hand DELETE undoes: added the same way, untimed
        maintain()
        retag_add(theirs, change_sets)
        timed(round_, [
            ("hand rv", lambda c=change_sets[theirs]: _check(hand_revert(c), n)),
            ("retag rv", lambda c=change_sets[ours]: retag_revert(c)),
        ])  # fmt: skip
        # both reverts did their work: only the hand-added tag is new since the round began
        _check(TagAssignment.objects.count(), before + n)
        _check(TagAssignment.objects.filter(tag__name__in=[ours, theirs]).count(), 0)
        # a second tag on everyone, for the two removes (the timed add's went with its revert)
        _check(hand_add(hand_tag2), n)
        timed(round_, [
            ("hand rm", lambda t=hand_tag2: _check(hand_remove(t), n)),
            ("retag rm", lambda h=hand_name: _check_out(retag("--remove", h), f"{n:,} removed")),
        ])  # fmt: skip
        _check(TagAssignment.objects.count(), before)

    peak, peak_revert = peak_memory(n)
    vendor = "PostgreSQL" if pg else "SQLite"
    best = {k: min(v) for k, v in times.items()}
    print_table(
        f"retag --all on {n:,} customers, {vendor} (best of {args.rounds}; ratio = retag / hand SQL)",
        ["operation", "hand SQL (s)", "retag (s)", "ratio", "target"],
        [
            ["add (history and events included)", f"{best['hand add']:.1f}",
             f"{best['retag add']:.1f}", f"{best['retag add'] / best['hand add']:.2f}x",
             "<= 2.5x" if pg else "reported"],
            ["revert of the add's change-set (history and events included)",
             f"{best['hand rv']:.1f}", f"{best['retag rv']:.1f}",
             f"{best['retag rv'] / best['hand rv']:.2f}x", "<= 2.5x" if pg else "reported"],
            ["remove (history and events included)", f"{best['hand rm']:.1f}",
             f"{best['retag rm']:.1f}", f"{best['retag rm'] / best['hand rm']:.2f}x",
             "<= 2.5x" if pg else "reported"],
        ],
    )  # fmt: skip
    print(f"\npeak memory of retag --customers FILE ({n:,} ids): {peak:.0f} MB (target < 300 MB)")
    print(
        f"peak memory of retag --revert ID (its change-set, {n:,} assignments): "
        f"{peak_revert:.0f} MB (target < 300 MB)"
    )
    if pg:
        for table in tables:
            sql(f"ALTER TABLE {table} RESET (autovacuum_enabled)")


def peak_memory(n: int) -> tuple[float, float]:
    """Max RSS (MB) of a separate ``retag --customers FILE --add from_file`` process over
    every customer's id, then of a separate ``retag --revert ID`` of its change-set."""
    from customers.models import Customer
    from tags.models import TagAssignment

    ids = Customer.objects.order_by("pk").values_list("pk", flat=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.writelines(f"{customer_id}\n" for customer_id in ids.iterator(chunk_size=50_000))
        path = handle.name
    try:
        out, peak = _max_rss(["--customers", path, "--add", "from_file"])
    finally:
        os.unlink(path)
    _check_out(out, f"{n:,} assignment(s) added")
    out, peak_revert = _max_rss(["--revert", _change_set_of(out)])
    _check_out(out, f"0 assignment(s) restored, {n:,} removed, 0 conflict(s)")
    _check(TagAssignment.objects.filter(tag__name="from_file").count(), 0)
    return peak, peak_revert


def _max_rss(options: list[str]) -> tuple[str, float]:
    """(stdout, max RSS in MB) of ``manage.py retag *options`` in a process of its own."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings"}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "retag", *options],
            cwd=ROOT, env=env, stdout=out, stderr=err,
        )  # fmt: skip
        _, status, usage = os.wait4(process.pid, 0)
        out.seek(0)
        err.seek(0)
        if status != 0:
            raise SystemExit(f"retag {options[0]} failed: {err.read().decode()}")
        return out.read().decode(), usage.ru_maxrss / 1024


def _change_set_of(out: str) -> str:
    """The id of the change-set a ``retag`` run recorded, from its output."""
    match = re.search(r"^Change-set (\w+)$", out, re.MULTILINE)
    assert match, out
    return match.group(1)


def _now():
    from django.utils import timezone

    return timezone.now()


def _check(count: int, expected: int) -> None:
    assert count == expected, (count, expected)


def _check_out(out: str, expected: str) -> None:
    assert expected in out, out


if __name__ == "__main__":
    main()
