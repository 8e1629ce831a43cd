from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "config.api"
    label = "api"
    verbose_name = "API access"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from config.api.groups import sync_group_permissions

        # Groups are created by a data migration; their permissions are re-derived after every
        # migrate so models added by later migrations are covered without another migration.
        post_migrate.connect(sync_group_permissions, sender=self)
