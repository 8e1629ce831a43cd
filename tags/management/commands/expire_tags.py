from django.core.management.base import CommandError

from config.commands import ProjectCommand
from tags.services import tags_expire


class Command(ProjectCommand):
    help = "Delete assignments whose expiry has passed, recording each removal in the history."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args, batch_size: int, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        removed = tags_expire(batch_size=batch_size)
        self.stdout.write(f"Removed {removed} expired assignment(s).")
