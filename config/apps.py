from django.contrib.admin.apps import AdminConfig


class TagdeskAdminConfig(AdminConfig):
    """Django's admin with our site (its index carries the dashboard)."""

    default_site = "config.admin_site.TagdeskAdminSite"
