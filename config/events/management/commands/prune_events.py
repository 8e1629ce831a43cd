from django.conf import settings
from django.core.management.base import CommandError

from config.commands import ProjectCommand
from config.events.services import PRUNE_BATCH_SIZE, events_prune


class Command(ProjectCommand):
    help = "Delete events older than EVENTS_RETENTION_DAYS (the periodic job does it too)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=PRUNE_BATCH_SIZE)

    def handle(self, *args, batch_size: int, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        deleted = events_prune(batch_size=batch_size)
        self.stdout.write(
            f"Deleted {deleted} event(s) older than {settings.EVENTS_RETENTION_DAYS} days."
        )
