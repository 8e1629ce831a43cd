"""The event log: one row per change, written in the change's own transaction.

Rows are only ever added (``services.event_record``, ``services.events_record_many``,
``services.events_insert_select``) and, past the retention period, pruned. Customer, subject
and change-set ids are plain ULIDs, not foreign keys: the apps they point into stand on this
one, and an event outlives what it describes (``customer.deleted``).
"""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from config.events.fields import TransactionIdField
from config.fields import ULIDField, new_ulid

ACTOR_TYPES = (("user", "user"), ("token", "token"), ("system", "system"))
ACTOR_TYPE_CHOICES = [value for value, _ in ACTOR_TYPES]

# The event types (lower case, dot-separated, past tense) of DESIGN §6.
EVENT_TYPES = (
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "customer.tags_changed",
    "customer.status_changed",
    "tag.created",
    "tag.updated",
    "tag.deleted",
    "tag.restored",
    "tag.merged",
    "segment.created",
    "segment.updated",
    "segment.deleted",
    "change_set.completed",
    "change_set.failed",
    "change_set.reverted",
)
TYPE_MAX_LENGTH = 64


class AppendOnly(TypeError):
    """Events are never changed or deleted one by one (only pruned past retention)."""


class EventQuerySet(models.QuerySet):
    def in_feed_order(self) -> "EventQuerySet":
        """The feed's order: by writing transaction, then by id within one."""
        return self.order_by("txid", "id")

    def update(self, **kwargs):
        raise AppendOnly("Events are append-only: they are never updated.")

    def delete(self):
        raise AppendOnly("Events are append-only: only events_prune deletes them.")


class Event(models.Model):
    id = ULIDField(primary_key=True, default=new_ulid, editable=False)
    # The feed's position (events.fields); set by the database on insert.
    txid = TransactionIdField(editable=False)
    type = models.CharField(max_length=TYPE_MAX_LENGTH)
    occurred_at = models.DateTimeField(default=timezone.now)
    actor_type = models.CharField(max_length=6, choices=ACTOR_TYPES)
    actor_id = models.CharField(max_length=64, blank=True, help_text="The user's or token's id.")
    actor_username = models.CharField(max_length=150, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    change_set_id = ULIDField(null=True, blank=True)
    customer_id = ULIDField(null=True, blank=True)
    subject_id = ULIDField(null=True, blank=True)
    data = models.JSONField(default=dict, encoder=DjangoJSONEncoder)

    objects = EventQuerySet.as_manager()

    class Meta:
        # Append-only: nobody is given a way to add, change or delete an event by hand.
        default_permissions = ("view",)
        indexes = [
            models.Index(fields=["txid", "id"], name="event_feed"),
            models.Index(fields=["customer_id", "txid", "id"], name="event_customer_feed"),
            models.Index(
                fields=["change_set_id", "txid", "id"],
                name="event_change_set_feed",
                condition=models.Q(change_set_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AppendOnly("Events are append-only: they are never updated.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly("Events are append-only: only events_prune deletes them.")
