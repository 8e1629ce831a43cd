"""Deterministic synthetic data, loaded at database speed (COPY on PostgreSQL).

Customers, tags, assignments (a few tags each, popular ones far more common, as in real data),
status labels, segments and the history rows of all of them: enough to try the back office
(`make run` loads 300 customers) or to benchmark (1,000,000 customers, 5,000,000 assignments).
"""

import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from itertools import accumulate

from django.core.management.base import CommandError, CommandParser
from django.db import connection, transaction
from django.db.models import Max
from simple_history.utils import bulk_create_with_history

from config.bulk import HISTORY_EXTRA, bulk_analyze, bulk_load
from config.commands import ProjectCommand
from config.fields import ulid_to_uuid
from config.names import name_key
from customers.models import Customer
from segments.models import Segment
from segments.services import segment_save
from statuses.models import Status, StatusLabel
from tags.models import Tag, TagAssignment

FIRST = [
    "Ana",
    "Ben",
    "Chloe",
    "Dev",
    "Elif",
    "Farah",
    "Goran",
    "Hana",
    "Ivan",
    "Jun",
    "Kofi",
    "Lena",
    "Mateo",
    "Nia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tariq",
    "Uma",
    "Vera",
]
LAST = [
    "Alvarez",
    "Brown",
    "Chen",
    "Diallo",
    "Evans",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Patel",
    "Rossi",
]


DEMO_TAGS = [
    "newsletter", "repeat_buyer", "vip", "high_value", "email_subscriber", "early_adopter",
    "wholesale", "prospect", "churn_risk", "loyalty_gold", "app_user", "gift_buyer",
]  # fmt: skip
DEMO_SEGMENTS = [
    ("Premium Customers", {"all": ["vip", "high_value"]}),
    ("Highly Engaged", {"all": ["repeat_buyer", "email_subscriber"]}),
    ("Win back", {"any": ["churn_risk", "prospect"], "none": ["vip"]}),
]
# label name → (its status, share of customers)
DEMO_LABELS = {
    "Active": ("Active", 0.80),
    "Dormant": ("Inactive", 0.10),
    "Inactive": ("Inactive", 0.06),
    "Fraud review": ("Suspended", 0.01),
    "Suspended": ("Suspended", 0.03),
}
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=700)
CHUNK = 20_000
REASON = "demo data"


class Command(ProjectCommand):
    help = "Load deterministic synthetic customers, tags, assignments, labels and segments, fast."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=300, metavar="N")
        parser.add_argument("--tags", type=int, default=12, metavar="T", help="Tags to spread.")
        parser.add_argument(
            "--tags-per-customer", type=int, default=2, metavar="K", help="Average per customer."
        )
        parser.add_argument("--segments", type=int, default=3, metavar="S")
        parser.add_argument("--seed", type=int, default=1, metavar="X")
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when customers already exist."
        )

    def handle(self, *args, customers: int, tags: int, tags_per_customer: int, segments: int,
               seed: int, if_empty: bool, **options) -> None:  # fmt: skip
        if min(customers, tags, tags_per_customer, segments) < 0:
            raise CommandError(
                "--customers, --tags, --tags-per-customer and --segments must be >= 0."
            )
        if tags_per_customer > tags:
            raise CommandError("--tags-per-customer cannot exceed --tags.")
        if if_empty and Customer.objects.exists():
            self.stdout.write("Customers already exist; demo data left as it is.")
            return
        started = time.monotonic()
        with transaction.atomic():
            labels = self._labels()
            tag_ids = self._tags(tags)
            first = Customer.objects.count()
            last_assignment = TagAssignment.objects.aggregate(n=Max("id"))["n"] or 0
            rng = random.Random(f"{seed}:{first}")  # a second load appends different customers
            made, assigned = 0, 0
            for chunk in self._customer_chunks(rng, seed, first, customers, labels):
                made += bulk_load(Customer, CUSTOMER_COLUMNS, chunk)
                bulk_load(Customer.history.model, [*CUSTOMER_COLUMNS, *HISTORY_EXTRA],
                          [(*row, row[-1], "+", None, REASON) for row in chunk])  # fmt: skip
                assigned += self._assign(rng, chunk, tag_ids, tags_per_customer)
                if customers >= 100_000:
                    self.stderr.write(f"... {made:,} customers, {assigned:,} assignments")
            self._assignment_history(after=last_assignment)
            made_segments = self._segments(rng, segments, tags)
        bulk_analyze()
        self.stdout.write(
            self.style.SUCCESS(
                f"Created {made} customers, {assigned} tag assignments, {made_segments} segments "
                f"in {time.monotonic() - started:.1f} s."
            )
        )

    def _labels(self) -> list[tuple[str, float]]:
        """The demo labels (created if missing) with their shares of customers."""
        labels = []
        for name, (status_name, share) in DEMO_LABELS.items():
            status = Status.objects.get(name_key=name_key(status_name))
            label, _ = StatusLabel.objects.get_or_create(
                name_key=name_key(name), defaults={"name": name, "status": status}
            )
            labels.append((ulid_to_uuid(label.pk), share))
        return labels

    def _tags(self, count: int) -> list[str]:
        """Ids of the first ``count`` demo tag names, created (with history) where missing."""
        wanted = [*DEMO_TAGS, *(f"tag-{n:04d}" for n in range(len(DEMO_TAGS), count))][:count]
        existing = {t.name_key: t.pk for t in Tag.objects.filter(name_key__in=wanted)}
        missing = [Tag(name=n, name_key=name_key(n)) for n in wanted if n not in existing]
        for tag in bulk_create_with_history(missing, Tag, default_change_reason=REASON):
            existing[tag.name_key] = tag.pk
        return [existing[name_key(n)] for n in wanted]

    def _customer_chunks(self, rng, seed, first, count, labels):
        label_ids = [pk for pk, _ in labels]
        cumulative = list(accumulate(share for _, share in labels))
        step = SPAN / max(count, 1)
        for start in range(first, first + count, CHUNK):
            chunk = []
            for n in range(start, min(start + CHUNK, first + count)):
                created = EPOCH + step * (n - first)
                ms = int(created.timestamp() * 1000)
                first_name, last_name = rng.choice(FIRST), rng.choice(LAST)
                chunk.append(
                    (
                        uuid.UUID(int=(ms << 80) | rng.getrandbits(80)),  # a ULID of that time
                        f"cus-{seed}-{n:07d}",
                        f"{first_name} {last_name}",
                        f"{first_name}.{last_name}.{seed}.{n}@example.com".lower(),
                        f"1555{seed % 100:02d}{n:07d}"[:15],
                        rng.choices(label_ids, cum_weights=cumulative)[0],
                        {"segment_hint": rng.choice(["retail", "wholesale", "online"])},
                        created,
                        created,
                    )
                )
            yield chunk

    def _assign(self, rng, chunk, tag_ids: list[str], per_customer: int) -> int:
        """About ``per_customer`` tags each, tag n drawn with weight 1/(n+1): a long tail."""
        if not tag_ids or not per_customer:
            return 0
        tags = [ulid_to_uuid(t) for t in tag_ids]
        weights = list(accumulate(1 / (n + 1) for n in range(len(tags))))
        rows = []
        for customer in chunk:
            k = rng.randint(max(0, per_customer - 1), per_customer + 1)
            drawn = rng.choices(range(len(tags)), cum_weights=weights, k=2 * k + 2)
            picked = list(dict.fromkeys(drawn))[:k]  # popular tags repeat: keep k distinct
            created = customer[-1] + timedelta(hours=1)
            rows += [(customer[0], tags[i], "", "import", None, None, created) for i in picked]
        return bulk_load(TagAssignment, ASSIGNMENT_COLUMNS, rows)

    def _assignment_history(self, after: int) -> None:
        """One set-based INSERT … SELECT of the "created" rows of the assignments just loaded."""
        history = TagAssignment.history.model._meta.db_table
        table = TagAssignment._meta.db_table
        columns = ", ".join(["id", *ASSIGNMENT_COLUMNS])
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {history} ({columns}, {', '.join(HISTORY_EXTRA)}) "
                f"SELECT {columns}, created_at, '+', NULL, %s FROM {table} WHERE id > %s",
                [REASON, after],
            )

    def _segments(self, rng, count: int, tags: int) -> int:
        names = [*DEMO_TAGS, *(f"tag-{n:04d}" for n in range(len(DEMO_TAGS), tags))][:tags]
        plans = [
            (name, rule)
            for name, rule in DEMO_SEGMENTS
            if all(n in names for key in rule for n in rule[key])
        ]
        while len(plans) < count and len(names) >= 3:
            all_, none = rng.sample(names[:50], 2), rng.choice(names)
            plans.append((f"Segment {len(plans) + 1}", {"all": all_, "none": [none]}
                          if none not in all_ else {"all": all_}))  # fmt: skip
        made = 0
        for name, rule in plans[:count]:
            if not Segment.objects.filter(name=name).exists():
                segment_save(segment=None, data={"name": name, "rule": rule}, actor=None,
                             reason=REASON)  # fmt: skip
                made += 1
        return made


CUSTOMER_COLUMNS = ["id", "reference_id", "name", "email", "mobile", "status_label_id",
                    "metadata", "created_at", "updated_at"]  # fmt: skip
ASSIGNMENT_COLUMNS = ["customer_id", "tag_id", "category", "source", "expires_at",
                      "assigned_by_id", "created_at"]  # fmt: skip
