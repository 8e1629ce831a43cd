"""Room in each page of the deliveries for the claim's update to stay on it (PostgreSQL).

A claim sets two columns no index holds (``claimed_until``, ``claim_token``): with free space
in the row's page the update is HOT, a new row version beside the old with no index touched;
in a full page (the default fillfactor, 100) it goes elsewhere and every one of the table's
five indexes gets an entry. New pages keep half their room (at 70 % a hundred claimed rows
side by side left no room for 57 of them; at 50 % 12). Measured in-process (one worker's send
job, 20,000 deliveries): a claim's time down by a sixth, deliveries per second up by 8-20 %.
Pages already full stay so. SQLite has no such setting."""

from django.db import migrations

TABLE = "webhooks_webhookdelivery"


def leave_room(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} SET (fillfactor = 50)")


def fill_pages(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0002_delivery_claims")]

    operations = [migrations.RunPython(leave_room, fill_pages, elidable=False)]
