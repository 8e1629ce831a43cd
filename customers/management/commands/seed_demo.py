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


class Command(BaseCommand):
    help = "Load deterministic synthetic customers (bulk inserts, no per-row saves)."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=300, metavar="N")
        parser.add_argument("--seed", type=int, default=1, metavar="X")
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when customers already exist."
        )

    def handle(self, *args, customers: int, seed: int, if_empty: bool, **options):
        if customers < 0:
            raise CommandError("--customers must be zero or more.")
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
        self.stdout.write(self.style.SUCCESS(f"Created {len(rows)} customers."))
