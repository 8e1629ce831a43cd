from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django_tasks_db.apps import TasksAppConfig


class TagdeskConfig(AppConfig):
    """The edge as an app, for the commands that span every app (seed_demo, check_stored_data)."""

    name = "config.edge"


class TagdeskAdminConfig(admin_apps.AdminConfig):
    """Django's admin with our site (its index carries the dashboard); named in INSTALLED_APPS."""

    default = False
    default_site = "config.edge.admin_site.TagdeskAdminSite"


class JobsConfig(TasksAppConfig):
    """django-tasks-db (the jobs table, its worker and admin) under the name staff read."""

    default = False
    verbose_name = "Background jobs"
