from django.core.management.base import BaseCommand

from config.api.idempotency import prune


class Command(BaseCommand):
    help = "Delete stored Idempotency-Key responses older than 24 hours."

    def handle(self, *args, **options):
        self.stdout.write(f"Deleted {prune()} idempotency key(s) older than 24 hours.")
