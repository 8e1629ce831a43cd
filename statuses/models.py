from django.conf import settings
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from config.fields import ULIDField, new_ulid
from config.names import NamedModelMixin

SOURCES = ("INSTORE", "ECOMMERCE", "MOBILE_APP", "WEB", "CALL_CENTER", "API")
ADMIN_SOURCE = "ADMIN"  # changes made in the back office; not accepted from the API


class Status(NamedModelMixin, models.Model):
    """A customer status (Active, Inactive, Suspended…); a customer's status is its label's."""

    id = ULIDField(primary_key=True, default=new_ulid, editable=False)
    name = models.CharField(max_length=100)
    name_key = models.CharField(max_length=100, unique=True, editable=False)
    description = models.TextField(blank=True)
    allowed_next = models.ManyToManyField(
        "StatusLabel",
        blank=True,
        related_name="+",
        help_text="Labels a customer in this status may move to; none = any label.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(
        history_change_reason_field=models.TextField(null=True), excluded_fields=["name_key"]
    )

    class Meta:
        verbose_name_plural = "statuses"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class StatusLabel(NamedModelMixin, models.Model):
    """A label under a status ("High Value" under Active); names are unique across statuses."""

    id = ULIDField(primary_key=True, default=new_ulid, editable=False)
    name = models.CharField(max_length=100)
    name_key = models.CharField(max_length=100, unique=True, editable=False)
    status = models.ForeignKey(Status, on_delete=models.PROTECT, related_name="labels")
    description = models.TextField(blank=True)
    allowed_next = models.ManyToManyField(
        "self",
        blank=True,
        symmetrical=False,
        related_name="+",
        help_text="Labels a customer with this label may move to; none = any label.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(
        history_change_reason_field=models.TextField(null=True), excluded_fields=["name_key"]
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.status.name} – {self.name}"


class StatusChange(models.Model):
    """One change of a customer's label, with the reason: append-only."""

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="status_changes"
    )
    from_label = models.ForeignKey(
        StatusLabel, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    to_label = models.ForeignKey(StatusLabel, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=255)
    source = models.CharField(max_length=20)
    account_id = models.CharField(max_length=100, blank=True)
    effective_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The bulk change that made it (the admin's "Change status…"), a plain ULID like the
    # events' change_set_id: change-sets live on a higher floor, and this row outlives them.
    change_set_id = ULIDField(null=True, blank=True, db_index=True, editable=False)

    class Meta:
        permissions = [("change_customer_status", "Can change a customer's status label")]
        indexes = [models.Index(fields=["customer", "id"], name="status_change_customer")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.customer_id}: {self.from_label_id} → {self.to_label_id}"
