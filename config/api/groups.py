"""The permission groups handed to API clients and staff.

The groups themselves come from a data migration; which permissions each holds is derived from
the policy below after every ``migrate``, so a model added later is covered automatically.
"""

from typing import Any

DOMAIN_APPS = ("customers", "tags", "segments", "statuses", "events", "webhooks")

# Permissions nobody gets through a group: they are granted to named people on purpose.
RESERVED = {"tags.hard_delete_tag"}

GROUPS: dict[str, Any] = {
    # Read everything the API exposes.
    "API read-only": lambda app, codename: codename.startswith("view_"),
    # Integrators: read and write domain data, but not the taxonomy of statuses.
    "API read-write": lambda app, codename: (
        not (app == "statuses" and codename.split("_", 1)[0] in {"add", "change", "delete"})
        and codename != "delete_customer"
    ),
    # Staff in the admin: everything in the domain apps except the reserved permissions.
    "Back office": lambda app, codename: True,
}


def sync_group_permissions(sender=None, using: str = "default", apps=None, **kwargs) -> None:
    """Give each group exactly the domain permissions its policy selects."""
    from django.apps import apps as global_apps

    apps = apps or global_apps
    try:
        group_model = apps.get_model("auth", "Group")
        permission_model = apps.get_model("auth", "Permission")
    except LookupError:
        return
    permissions = list(
        permission_model.objects.using(using)
        .filter(content_type__app_label__in=DOMAIN_APPS)
        .select_related("content_type")
    )
    for name, policy in GROUPS.items():
        group, _ = group_model.objects.using(using).get_or_create(name=name)
        wanted = [
            p
            for p in permissions
            if f"{p.content_type.app_label}.{p.codename}" not in RESERVED
            and policy(p.content_type.app_label, p.codename)
        ]
        group.permissions.set(wanted)
