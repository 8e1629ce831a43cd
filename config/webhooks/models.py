"""Webhook endpoints, one delivery row per (endpoint, event) and the log of every attempt.

The delivery rows are the truth: the job queue only wakes workers, which claim due rows
themselves (a lost queue message or a killed worker delays a delivery, never loses it: the
next dispatch wakes a worker again, and a killed worker's claim runs out). Events are referred to by id, not by foreign key: the event log is pruned
with plain SQL, and a delivery's log outlives the event.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from config.fields import ULIDField, new_ulid

URL_MAX_LENGTH = 2000
TEST_EVENT_TYPE = "webhook.test"


class WebhookEndpoint(models.Model):
    id = ULIDField(primary_key=True, default=new_ulid, editable=False)
    url = models.URLField(max_length=URL_MAX_LENGTH)
    description = models.CharField(max_length=500, blank=True)
    # Event types: exact types, ``customer.*`` wildcards, or ``*`` for every type.
    types = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)
    # ``whsec_`` + base64 of 32 random bytes; kept readable, as signing needs it.
    secret = models.CharField(max_length=100, editable=False)
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Set when the first failure after a success happened; cleared by a success.
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=500, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url


class DeliveryState(models.TextChoices):
    PENDING = "pending", "pending"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"


class WebhookDeliveryQuerySet(models.QuerySet):
    def pending(self) -> "WebhookDeliveryQuerySet":
        return self.filter(state=DeliveryState.PENDING)


class WebhookDelivery(models.Model):
    id = ULIDField(primary_key=True, default=new_ulid, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    # The event: its id (the ``webhook-id`` header, the same on every attempt), type, customer
    # and feed position (txid, event_id) for the per-customer order.
    event_id = ULIDField()
    event_type = models.CharField(max_length=64)
    event_txid = models.BigIntegerField(default=0)
    customer_id = ULIDField(null=True, blank=True)
    # A test event's body ``data``; null for a real event (rendered from the log when sent).
    payload = models.JSONField(null=True, blank=True)
    state = models.CharField(
        max_length=9, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    # Attempts since the schedule last started (a replay starts it again).
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # Being sent by the worker whose claim carries this token, until then (a lease: a killed
    # worker's claim runs out and the delivery is sent again).
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=26, blank=True)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = WebhookDeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="webhook_delivery_once")
        ]
        indexes = [
            # The claim's order: the longest due first, read in index order up to a batch.
            models.Index(
                fields=["next_attempt_at", "id"],
                name="webhook_delivery_due",
                condition=models.Q(state="pending"),
            ),
            models.Index(
                fields=["endpoint", "customer_id", "event_txid", "event_id"],
                name="webhook_delivery_order",
                condition=models.Q(state="pending"),
            ),
            models.Index(fields=["event_id"], name="webhook_delivery_event"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} → {self.endpoint_id}"

    @property
    def next_attempt_due(self):
        """When the next attempt is due; None once delivered or failed for good."""
        return self.next_attempt_at if self.state == DeliveryState.PENDING else None


class WebhookAttempt(models.Model):
    id = ULIDField(primary_key=True, default=new_ulid, editable=False)
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="log")
    attempted_at = models.DateTimeField()
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.CharField(max_length=1000, blank=True)
    error = models.CharField(max_length=500, blank=True)
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["attempted_at"], name="webhook_attempt_time")]

    def __str__(self) -> str:
        return f"{self.attempted_at:%Y-%m-%d %H:%M:%S} {self.status or self.error}"


class WebhookCursor(models.Model):
    """One row: how far the fan-out has read the event feed, and the dispatch chain's turn."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    txid = models.BigIntegerField(default=0)
    event_id = ULIDField(null=True, blank=True)
    chain_token = models.CharField(max_length=26, blank=True)
    next_dispatch_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"events after ({self.txid}, {self.event_id})"
