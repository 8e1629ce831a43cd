import random

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from customers.models import Customer

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


class Command(BaseCommand):
    help = "Load deterministic synthetic customers (bulk inserts, no per-row saves)."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=300, metavar="N")
        parser.add_argument("--seed", type=int, default=1, metavar="X")
        parser.add_argument(
            "--tags", type=int, default=12, metavar="T", help="Demo tags to spread over them."
        )
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when customers already exist."
        )

    def handle(self, *args, customers: int, seed: int, tags: int, if_empty: bool, **options):
        if customers < 0 or tags < 0:
            raise CommandError("--customers and --tags must be zero or more.")
        if if_empty and Customer.objects.exists():
            self.stdout.write("Customers already exist; demo data left as it is.")
            return
        rng = random.Random(seed)
        start = Customer.objects.count()
        rows = []
        for n in range(start, start + customers):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            rows.append(
                Customer(
                    reference_id=f"cus-{seed}-{n:07d}",
                    name=f"{first} {last}",
                    email=f"{first}.{last}.{seed}.{n}@example.com".lower(),
                    mobile=f"1555{seed % 100:02d}{n:07d}"[:15],
                    metadata={"segment_hint": rng.choice(["retail", "wholesale", "online"])},
                )
            )
        with transaction.atomic():
            Customer.objects.bulk_create(rows, batch_size=100)
            assigned = self._tag(rows, rng, tags)
            segments = self._segments(tags)
        self.stdout.write(
            self.style.SUCCESS(
                f"Created {len(rows)} customers, {assigned} tag assignments, {segments} segments."
            )
        )

    def _tag(self, customers: list[Customer], rng: random.Random, count: int) -> int:
        """Spread the demo tags (the first ones more common) through the tagging service."""
        from tags.services import customers_tags_bulk_change

        assigned = 0
        for n, name in enumerate(DEMO_TAGS[:count]):
            share = 0.5 / (n + 1) + 0.05
            chosen = [c.pk for c in customers if rng.random() < share]
            result = customers_tags_bulk_change(  # creates the tag even when nobody gets it
                customer_ids=chosen, add=[name], actor=None, reason="demo data", source="import"
            )
            assigned += result.tags_added
        return assigned

    def _segments(self, count: int) -> int:
        from segments.models import Segment
        from segments.services import segment_save

        made = 0
        for name, rule in DEMO_SEGMENTS:
            names = [n for key in ("all", "any", "none") for n in rule.get(key, [])]
            if (
                all(n in DEMO_TAGS[:count] for n in names)
                and not Segment.objects.filter(name=name).exists()
            ):
                segment_save(
                    segment=None, data={"name": name, "rule": rule}, actor=None, reason="demo data"
                )
                made += 1
        return made
