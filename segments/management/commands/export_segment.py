import contextlib
import csv
import sys

from django.core.management.base import CommandError
from tqdm import tqdm

from config.commands import ProjectCommand
from segments.selectors import segment_find, segment_members
from tags.models import TagAssignment

BATCH = 2000


class Command(ProjectCommand):
    help = (
        "Write a segment's members as CSV (id, reference_id, name, email, mobile, tags), streaming."
    )

    def add_arguments(self, parser):
        parser.add_argument("segment", help="Segment id or name.")
        parser.add_argument(
            "-o", "--output", required=True, help="CSV file to write ('-' for stdout)."
        )

    def handle(self, *args, segment: str, output: str, **options):
        found = segment_find(segment)
        if found is None:
            raise CommandError(f"No segment with id or name {segment!r}.")
        members = segment_members(found).order_by("id")
        total = members.count()
        try:
            target = (
                contextlib.nullcontext(sys.stdout)
                if output == "-"
                else open(output, "w", newline="", encoding="utf-8")  # noqa: SIM115
            )
        except OSError as error:
            raise CommandError(f"Cannot write {output}: {error.strerror}.") from error
        written = 0
        with target as out:
            writer = csv.writer(out)
            writer.writerow(["id", "reference_id", "name", "email", "mobile", "tags"])
            progress = tqdm(
                total=total, unit="customer", disable=not sys.stderr.isatty(), file=sys.stderr
            )
            last_id = None
            while True:
                # keyset pages: constant memory and constant cost per page, however many members
                page = members.filter(pk__gt=last_id) if last_id else members
                rows = list(
                    page.values_list("id", "reference_id", "name", "email", "mobile")[:BATCH]
                )
                if not rows:
                    break
                tags: dict[str, list[str]] = {}
                for customer_id, name in (
                    TagAssignment.objects.current()
                    .filter(customer_id__in=[r[0] for r in rows])
                    .order_by("tag__name")
                    .values_list("customer_id", "tag__name")
                ):
                    tags.setdefault(customer_id, []).append(name)
                for row in rows:
                    writer.writerow(
                        [*(value or "" for value in row), ",".join(tags.get(row[0], []))]
                    )
                written += len(rows)
                progress.update(len(rows))
                last_id = rows[-1][0]
            progress.close()
        self.stderr.write(f"Wrote {written} member(s) of '{found.name}' to {output}.")
