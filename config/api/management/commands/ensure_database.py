from django.db import connection

from config.commands import ProjectCommand
from config.databases import database_create_if_missing


class Command(ProjectCommand):
    help = "Create the PostgreSQL database DATABASE_URL names if it does not exist (make run)."

    def handle(self, *args, **options) -> None:
        if database_create_if_missing():
            name = connection.settings_dict["NAME"]
            self.stdout.write(self.style.SUCCESS(f"Created PostgreSQL database {name!r}."))
