from django.apps import AppConfig
from django.db.models.signals import post_migrate


class StatusesConfig(AppConfig):
    name = "statuses"

    def ready(self) -> None:
        from statuses.services import statuses_ensure_defaults

        # The data migration creates the default statuses; this puts them back after a flush
        # (tests that truncate tables) so the default label always exists.
        post_migrate.connect(statuses_ensure_defaults, sender=self)
