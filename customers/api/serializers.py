from django.core.validators import RegexValidator
from rest_framework import serializers

from config.api.fields import JsonObjectField
from config.api.serializers import ApiModelSerializer, ReasonField
from customers.identifiers import MOBILE_INPUT_PATTERN, normalize_email, normalize_mobile
from customers.models import Customer, reference_id_validator


class NormalizedEmailField(serializers.EmailField):
    def to_internal_value(self, data):
        return normalize_email(super().to_internal_value(data))


class MobileField(serializers.CharField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not value:
            return None
        mobile = normalize_mobile(value)
        if mobile is None:
            raise serializers.ValidationError(
                "Enter 7–15 digits, country code first (e.g. +593 99 123 4567).", code="invalid"
            )
        return mobile


class CustomerSerializer(ApiModelSerializer):
    email = NormalizedEmailField(required=False, allow_null=True, allow_blank=True, max_length=254)
    mobile = MobileField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=32,
        validators=[RegexValidator(MOBILE_INPUT_PATTERN)],
        help_text="Any formatting of 7–15 digits; stored as digits only.",
    )
    metadata = JsonObjectField(required=False, help_text="Free-form JSON object.")
    reason = ReasonField()

    includable = {"customer.metadata": "metadata"}

    class Meta:
        model = Customer
        fields = [
            "id",
            "reference_id",
            "name",
            "email",
            "mobile",
            "metadata",
            "created_at",
            "updated_at",
            "reason",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        # Uniqueness is the service's job (409 naming the field), not a 400 here.
        extra_kwargs = {
            "reference_id": {"allow_blank": True, "validators": [reference_id_validator]}
        }
