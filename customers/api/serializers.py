from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.fields import JsonObjectField, StrictCharField, StrictEmailField
from config.api.serializers import ApiModelSerializer, ReasonField
from customers.api.tagging_serializers import SegmentMatchSerializer, TagAssignmentSerializer
from customers.identifiers import MOBILE_INPUT_PATTERN, normalize_email, normalize_mobile
from customers.models import Customer, reference_id_validator
from segments.selectors import active_segments, segments_of_customer
from statuses.api.serializers import CustomerStatusSerializer
from tags.selectors import customer_current_assignments


class NormalizedEmailField(StrictEmailField):
    def to_internal_value(self, data):
        return normalize_email(super().to_internal_value(data))


class MobileField(StrictCharField):
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
    # The schema's way of saying the identity rule (customers.services): a create or a full
    # replace names at least one of these, not blank.
    schema_any_of_required = (["name"], ["email"], ["mobile"], ["reference_id"])
    schema_any_of_nonempty = True

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
    status = CustomerStatusSerializer(source="status_label", read_only=True)
    tags = serializers.SerializerMethodField(help_text="Current tag names, sorted.")
    tag_details = serializers.SerializerMethodField(
        help_text="Current assignments with their metadata (`includes=customer.tag_details`)."
    )
    segments = serializers.SerializerMethodField(
        help_text="Active segments the customer is in (`includes=customer.segments`)."
    )
    reason = ReasonField()

    includable = {
        "customer.metadata": "metadata",
        "customer.tag_details": "tag_details",
        "customer.segments": "segments",
    }

    class Meta:
        model = Customer
        fields = [
            "id",
            "reference_id",
            "name",
            "email",
            "mobile",
            "status",
            "tags",
            "tag_details",
            "segments",
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

    @extend_schema_field(serializers.ListField(child=StrictCharField()))
    def get_tags(self, customer: Customer) -> list[str]:
        return [a.tag.name for a in customer_current_assignments(customer=customer)]

    @extend_schema_field(SegmentMatchSerializer(many=True))
    def get_segments(self, customer: Customer) -> list[dict]:
        assignments = customer_current_assignments(customer=customer)
        return segments_of_customer(
            tag_names_by_id={a.tag_id: a.tag.name for a in assignments},
            label_id=customer.status_label_id,
            segments=self._active_segments(),
        )

    def _active_segments(self):
        """Loaded once per response, however many customers it lists."""
        if "active_segments" not in self.context:
            self.context["active_segments"] = active_segments()
        return self.context["active_segments"]

    @extend_schema_field(TagAssignmentSerializer(many=True))
    def get_tag_details(self, customer: Customer) -> list[dict]:
        assignments = customer_current_assignments(customer=customer)
        return TagAssignmentSerializer(assignments, many=True, context=self.context).data


class CustomerUntagResponseSerializer(serializers.Serializer):
    customer = CustomerSerializer()
    warnings = serializers.ListField(child=StrictCharField())
