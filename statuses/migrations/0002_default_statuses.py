from django.db import migrations

from config.fields import new_ulid

DEFAULTS = ("Active", "Inactive", "Suspended")


def create(apps, schema_editor):
    Status = apps.get_model("statuses", "Status")
    StatusLabel = apps.get_model("statuses", "StatusLabel")
    for name in DEFAULTS:
        status, _ = Status.objects.get_or_create(
            name_key=name.casefold(), defaults={"id": new_ulid(), "name": name}
        )
        StatusLabel.objects.get_or_create(
            name_key=name.casefold(), defaults={"id": new_ulid(), "name": name, "status": status}
        )


class Migration(migrations.Migration):
    dependencies = [("statuses", "0001_initial")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
