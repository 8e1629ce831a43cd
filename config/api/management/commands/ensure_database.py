from config.commands import ProjectCommand
from config.databases import database_create_if_missing


class Command(ProjectCommand):
    help = "Create the PostgreSQL database DATABASE_URL names if it does not exist (make run)."

    def handle(self, *args, **options) -> None:
        if database_create_if_missing():
            self.stdout.write(self.style.SUCCESS("Created the database DATABASE_URL names."))
