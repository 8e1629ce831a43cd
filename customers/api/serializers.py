from rest_framework import serializers
from rest_framework.validators import UniqueValidator

from config.api.serializers import ApiModelSerializer, ReasonField
from customers.identifiers import normalize_email, normalize_mobile
from customers.models import Customer


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
    # Unique validators run after normalisation, so "A@X.com" collides with "a@x.com".
    email = NormalizedEmailField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=254,
        validators=[
            UniqueValidator(Customer.objects.all(), "A customer with this email already exists.")
        ],
    )
    mobile = MobileField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=32,
        validators=[
            UniqueValidator(Customer.objects.all(), "A customer with this mobile already exists.")
        ],
    )
    metadata = serializers.DictField(required=False, help_text="Free-form JSON object.")
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
        extra_kwargs = {"reference_id": {"allow_blank": True}}
