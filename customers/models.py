from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords

from config.fields import ULIDField, new_ulid
from customers.identifiers import REFERENCE_ID_RE, normalize_email, normalize_mobile
from statuses.selectors import default_status_label_id

reference_id_validator = RegexValidator(
    REFERENCE_ID_RE, "Use 1–50 characters of A–Z, a–z, 0–9, '_' and '-'.", code="invalid"
)


class Customer(models.Model):
    id = ULIDField(primary_key=True, default=new_ulid, editable=False)
    reference_id = models.CharField(
        max_length=50,
        unique=True,
        null=True,
        blank=True,
        validators=[reference_id_validator],
        help_text="Your own identifier for this customer (external id).",
    )
    name = models.CharField(max_length=255, blank=True)
    email = models.EmailField(
        max_length=254, unique=True, null=True, blank=True, help_text="Stored lowercased."
    )
    mobile = models.CharField(
        max_length=15,
        unique=True,
        null=True,
        blank=True,
        help_text="Digits only, country code first (E.164 without '+').",
    )
    status_label = models.ForeignKey(
        "statuses.StatusLabel",
        on_delete=models.PROTECT,
        related_name="customers",
        default=default_status_label_id,
        help_text="The customer's status is its label's status.",
    )
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(history_change_reason_field=models.TextField(null=True))

    class Meta:
        permissions = [("tag_customer", "Can tag and untag customers")]

    def __str__(self) -> str:
        return self.name or self.email or self.mobile or self.reference_id or self.id

    def normalize(self) -> None:
        """Bring identifiers to their stored form; raises ValidationError for a bad mobile."""
        self.email = normalize_email(self.email)
        self.reference_id = self.reference_id or None
        if self.mobile:
            mobile = normalize_mobile(self.mobile)
            if mobile is None:
                raise ValidationError(
                    {"mobile": "Enter 7–15 digits, country code first (e.g. +593 99 123 4567)."}
                )
            self.mobile = mobile
        else:
            self.mobile = None

    def clean(self) -> None:
        self.normalize()
        if not isinstance(self.metadata, dict):
            raise ValidationError({"metadata": "Must be a JSON object."})
