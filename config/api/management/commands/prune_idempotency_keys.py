from config.api.idempotency import prune
from config.commands import ProjectCommand


class Command(ProjectCommand):
    help = "Delete stored Idempotency-Key responses older than 24 hours."

    def handle(self, *args, **options):
        self.stdout.write(f"Deleted {prune()} idempotency key(s) older than 24 hours.")
