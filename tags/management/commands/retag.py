"""Add and/or remove tags on many customers: from a file, a segment, the holders of tags, or all.

Everything the operator got wrong (no action, unreadable file, unknown column, segment, tag or
user, a malformed row) is reported before the first write. Then each batch is one transaction
of set-based statements; killed half-way, the same command run again finishes the job.
"""

import csv
import sys
import time
from collections.abc import Iterator

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm

from config.commands import ProjectCommand
from config.exceptions import DomainError
from config.fields import parse_ulid
from config.names import name_key
from customers.models import Customer
from customers.selectors import IDENTIFIERS, customer_id_batches, customer_id_batches_from
from segments.selectors import segment_find, segment_members
from tags.models import ChangeSet
from tags.selectors import tags_by_key, with_all_current_tags
from tags.services import (
    ChangeSetPlan,
    RetagResult,
    TagChange,
    change_set_revert,
    customers_retag,
)

PLAIN_PROGRESS_EVERY = 5.0  # seconds between progress lines when stderr is not a terminal


def names(values: list[str] | None) -> list[str]:
    """Repeatable and comma-separated: ``--add a,b --add c`` → [a, b, c]."""
    return [n.strip() for value in values or [] for n in value.split(",") if n.strip()]


class Command(ProjectCommand):
    help = (
        "Add and/or remove tags on customers selected by a file, a segment, the tags they hold, "
        "or all of them; batch by batch, with history, resumable."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        select = parser.add_argument_group("which customers (exactly one)")
        select.add_argument(
            "--customers",
            metavar="FILE",
            help="One identifier a line, or a CSV file with --column.",
        )
        select.add_argument("--segment", metavar="NAME_OR_ID", help="Members of a segment.")
        select.add_argument(
            "--has-tag",
            action="append",
            metavar="TAG",
            help="Customers currently holding every tag given (repeatable, or comma-separated).",
        )
        select.add_argument("--all", action="store_true", help="Every customer.")
        parser.add_argument(
            "--column", help="With --customers: the CSV column holding the identifiers."
        )
        parser.add_argument(
            "--identify-by",
            choices=list(IDENTIFIERS),
            default="id",
            help="What the file's identifiers are (default: id).",
        )
        change = parser.add_argument_group("what to change (at least one)")
        change.add_argument("--add", action="append", metavar="TAGS", help="Tags to add.")
        change.add_argument("--remove", action="append", metavar="TAGS", help="Tags to remove.")
        parser.add_argument("--category", default="", help="Category of the added assignments.")
        parser.add_argument("--source", default="bulk", help="Source of the added assignments.")
        parser.add_argument(
            "--expires", metavar="DATETIME", help="Expiry of the added assignments (ISO 8601)."
        )
        parser.add_argument(
            "--reason", help="Reason kept in the history (default: retag; revert of ID)."
        )
        parser.add_argument(
            "--revert",
            metavar="CHANGE_SET_ID",
            help="Undo a change-set instead (where nothing changed since): no selection, "
            "--add or --remove; --user, --reason and --batch-size apply.",
        )
        parser.add_argument("--user", metavar="USERNAME", help="Who the history names.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would change; change nothing."
        )
        parser.add_argument("--batch-size", type=int, default=10_000, metavar="N")
        parser.add_argument(
            "--no-create-missing",
            action="store_true",
            help="Refuse tags to add that do not exist (default: create them).",
        )
        parser.add_argument(
            "--unknown-out",
            metavar="FILE",
            help="With --customers: write the identifiers that matched no customer here.",
        )

    def handle(self, *args, **options) -> None:
        started = time.monotonic()
        self.unknown_count, self.unknown_shown, self.unknown_out, self.bar = 0, [], None, None
        if options["revert"] is not None:
            self._revert(options, started)
            return
        add, remove = names(options["add"]), names(options["remove"])
        if not add and not remove:
            raise CommandError("Nothing to do: give --add and/or --remove.")
        batch_size = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        actor = self._user(options["user"])
        expires_at = self._expires(options["expires"])
        try:
            batches, total, selection = self._selection(options, batch_size)
            if options["unknown_out"]:
                self.unknown_out = self._open(options["unknown_out"], "w")
            change = TagChange(
                add=add,
                remove=remove,
                create_missing=not options["no_create_missing"],
                source=options["source"],
                category=options["category"],
                expires_at=expires_at,
                reason="retag" if options["reason"] is None else options["reason"],
            )
            result = customers_retag(
                batches=batches,
                change=change,
                actor=actor,
                dry_run=options["dry_run"],
                on_batch=self._progress(total),
                check_permissions=False,  # --user names whom the history is for
                plan=ChangeSetPlan(kind=ChangeSet.Kind.RETAG, selection=selection, total=total),
            )
        except DomainError as error:
            raise CommandError(str(error)) from error
        finally:
            if self.unknown_out is not None:
                self.unknown_out.close()
            if self.bar is not None:
                self.bar.close()
        self._report(result, options, time.monotonic() - started)

    def _revert(self, options: dict, started: float) -> None:
        """``--revert ID``: the change-set undone where nothing changed since, the rest
        reported as conflicts."""
        given = [
            flag
            for flag in ("customers", "segment", "has_tag", "all", "add", "remove", "dry_run")
            if options[flag]
        ]
        if given:
            flags = ", ".join("--" + flag.replace("_", "-") for flag in given)
            raise CommandError(f"--revert takes no selection or change (got {flags}).")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        actor = self._user(options["user"])
        key = parse_ulid(options["revert"])
        original = ChangeSet.objects.filter(pk=key).first() if key else None
        if original is None:
            raise CommandError(f"No change-set {options['revert']!r}.")
        try:
            revert = change_set_revert(
                change_set=original,
                actor=actor,
                reason=options["reason"] or "",
                batch_size=options["batch_size"],
            )
        except DomainError as error:
            raise CommandError(str(error)) from error
        for conflict in revert.conflicts[:20]:
            self.stdout.write(
                f"  conflict: {conflict['tag']} {conflict['change']} on {conflict['customer_id']}"
                " changed since, left as it is"
            )
        counts = revert.counts
        self.stdout.write(
            f"Change-set {original.pk} reverted by change-set {revert.pk}: "
            f"{counts['added']:,} assignment(s) restored, {counts['removed']:,} removed, "
            f"{counts['conflicts']:,} conflict(s) in {time.monotonic() - started:.1f} s."
        )

    # --- checks made before anything is written --------------------------------------------

    def _user(self, username: str | None):
        if username is None:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        return user

    def _expires(self, value: str | None):
        if value is None:
            return None
        try:
            day = parse_date(value) if len(value.strip()) == 10 else None
            parsed = parse_datetime(f"{day.isoformat()}T00:00:00+00:00" if day else value)
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise CommandError(
                f"--expires {value!r} is not an ISO 8601 date, or date-time with an offset."
            )
        return parsed

    def _open(self, path: str, mode: str):
        try:
            return open(path, mode, encoding="utf-8", newline="")
        except OSError as error:
            raise CommandError(f"Cannot open {path}: {error.strerror}.") from error

    def _selection(self, options: dict, batch_size: int):
        """(batches of customer ids, how many customers or lines, the selection as the
        change-set records it) for the one selection given."""
        chosen = [
            flag
            for flag, given in (
                ("--customers", options["customers"] is not None),
                ("--segment", options["segment"] is not None),
                ("--has-tag", bool(options["has_tag"])),
                ("--all", options["all"]),
            )
            if given
        ]
        if len(chosen) != 1:
            raise CommandError(
                "Choose the customers with exactly one of --customers FILE, --segment, "
                f"--has-tag or --all (got {', '.join(chosen) or 'none'})."
            )
        if options["customers"] is None and (options["column"] or options["unknown_out"]):
            raise CommandError("--column and --unknown-out go with --customers FILE.")
        if options["customers"] is not None:
            path = options["customers"]
            lines = self._check_file(path, options["column"])
            identifiers = self._identifiers(path, options["column"])
            return (
                customer_id_batches_from(
                    identifiers,
                    identify_by=options["identify_by"],
                    batch_size=batch_size,
                    on_unknown=self._unknown,
                ),
                lines,
                {
                    "file": path,
                    "column": options["column"],
                    "identify_by": options["identify_by"],
                },
            )
        if options["segment"] is not None:
            segment = segment_find(options["segment"])
            if segment is None:
                raise CommandError(f"No segment with id or name {options['segment']!r}.")
            queryset = segment_members(segment)
            selection = {"segment": {"id": segment.pk, "name": segment.name}}
        elif options["has_tag"]:
            wanted = names(options["has_tag"])
            found = tags_by_key(name_key(n) for n in wanted)
            if missing := [n for n in wanted if name_key(n) not in found]:
                raise CommandError(f"Unknown tag(s) in --has-tag: {', '.join(missing)}.")
            queryset = with_all_current_tags(Customer.objects.all(), list(found))
            selection = {"has_tags": [found[name_key(n)].name for n in wanted]}
        else:
            queryset = Customer.objects.all()
            selection = {"all": True}
        # the bar's length, and the change-set's (its progress)
        total = queryset.count()
        return customer_id_batches(queryset, batch_size=batch_size), total, selection

    def _check_file(self, path: str, column: str | None) -> int:
        """Read the file once, without the database: it must decode, and with --column have
        that column and no short rows. Returns how many identifiers it holds."""
        try:
            return sum(1 for _ in self._identifiers(path, column))
        except UnicodeDecodeError as error:
            raise CommandError(f"{path} is not UTF-8 text ({error.reason}).") from error
        except csv.Error as error:
            raise CommandError(f"{path} is not valid CSV: {error}.") from error

    def _identifiers(self, path: str, column: str | None) -> Iterator[str]:
        """The file's identifiers, streamed: blank lines and '#' comments skipped."""
        with self._open(path, "r") as handle:
            if column is None:
                for line in handle:
                    value = line.strip()
                    if value and not value.startswith("#"):
                        yield value
                return
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or column not in [h.strip() for h in header]:
                raise CommandError(
                    f"{path} has no column {column!r} (columns: {', '.join(header or []) or 'none'})."
                )
            index = [h.strip() for h in header].index(column)
            for row in reader:
                if not row:
                    continue
                if len(row) <= index:
                    raise CommandError(
                        f"{path}, line {reader.line_num}: no value in column {column!r}."
                    )
                if value := row[index].strip():
                    yield value

    # --- output -----------------------------------------------------------------------------

    def _unknown(self, identifiers: list[str]) -> None:
        self.unknown_count += len(identifiers)
        self.unknown_shown += identifiers[: max(0, 20 - len(self.unknown_shown))]
        if self.unknown_out is not None:
            self.unknown_out.writelines(f"{i}\n" for i in identifiers)

    def _progress(self, total: int | None):
        """A tqdm bar on a terminal; otherwise a plain line every few seconds."""
        if sys.stderr.isatty():
            self.bar = tqdm(total=total, unit="customer", file=sys.stderr, smoothing=0.1)
            return lambda result, size: self.bar.update(size)
        last = [time.monotonic()]

        def line(result: RetagResult, size: int) -> None:
            if time.monotonic() - last[0] >= PLAIN_PROGRESS_EVERY:
                last[0] = time.monotonic()
                self.stderr.write(
                    f"... {result.matched:,} customers, +{result.tags_added:,} "
                    f"-{result.tags_removed:,}"
                )

        return line

    def _report(self, result: RetagResult, options: dict, seconds: float) -> None:
        would = "would be " if result.dry_run else ""
        for warning in result.warnings:
            self.stderr.write(f"warning: {warning}")
        if result.created_tags:
            self.stdout.write(f"Tags {would}created: {', '.join(result.created_tags)}")
        for name, count in sorted(result.added.items()):
            self.stdout.write(f"  + {name}: {count:,} {would}added")
        for name, count in sorted(result.removed.items()):
            self.stdout.write(f"  - {name}: {count:,} {would}removed")
        unknown = self.unknown_count
        if unknown and options["dry_run"]:
            self.stdout.write(f"Unknown identifiers: {', '.join(self.unknown_shown)}")
        tail = f", {unknown:,} unknown identifier(s)" if options["customers"] else ""
        if unknown and options["unknown_out"]:
            tail += f" (listed in {options['unknown_out']})"
        prefix = "Dry run: nothing changed. " if result.dry_run else ""
        if result.change_set is not None:
            self.stdout.write(f"Change-set {result.change_set.pk}")
        self.stdout.write(
            f"{prefix}{result.matched:,} customer(s) matched, {result.tags_added:,} "
            f"assignment(s) {would}added, {result.tags_removed:,} {would}removed{tail} "
            f"in {seconds:.1f} s."
        )
