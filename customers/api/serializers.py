from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField, empty

from config.api.fields import (
    ApiDateTimeField,
    DateTimeInputField,
    JsonObjectField,
    StrictCharField,
    StrictEmailField,
)
from config.api.serializers import ApiModelSerializer, ReasonField, RequestSerializer
from config.api.viewsets import MAX_IDENTIFIER_LENGTH
from customers.api.tagging_serializers import SegmentMatchSerializer, TagAssignmentSerializer
from customers.identifiers import MOBILE_INPUT_PATTERN, normalize_email, normalize_mobile
from customers.models import Customer, reference_id_validator
from segments.selectors import active_segments, segments_of_customer
from statuses.models import ADMIN_SOURCE, SOURCES, StatusChange
from tags.selectors import customer_current_assignments

# Capillary's identifierName → our identify_by
LOOKUP_IDENTIFIERS = {
    "mobile": "mobile",
    "email": "email",
    "externalId": "reference_id",
    "id": "id",
}
ACCOUNT_ID_MAX_LENGTH = StatusChange._meta.get_field("account_id").max_length


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


class CustomerStatusSerializer(serializers.Serializer):
    status = serializers.CharField(source="status.name")
    label = serializers.CharField(source="name")


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


# --- a customer's status label ------------------------------------------------------------------


class StatusChangeRequestSerializer(RequestSerializer):
    reason = StrictCharField(max_length=255, help_text="Why the label changes (required).")
    label = StrictCharField(max_length=100, help_text="The name of the label to set.")
    date = DateTimeInputField(required=False, help_text="When it took effect (default now).")


class CustomerStatusRequestSerializer(StatusChangeRequestSerializer):
    source = serializers.ChoiceField(choices=SOURCES, required=False, default="API")


class StatusChangeCreatedSerializer(serializers.Serializer):
    createdId = serializers.IntegerField(
        allow_null=True, help_text="Id of the recorded change; null when nothing changed."
    )
    warnings = serializers.ListField(child=serializers.CharField())


class StatusChangeSerializer(serializers.ModelSerializer):
    from_label = serializers.CharField(source="from_label.name", allow_null=True, default=None)
    to_label = serializers.CharField(source="to_label.name")
    status = serializers.CharField(source="to_label.status.name")
    source = serializers.ChoiceField(choices=[*SOURCES, ADMIN_SOURCE])
    effective_at = ApiDateTimeField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = ApiDateTimeField()

    class Meta:
        model = StatusChange
        fields = [
            "id",
            "from_label",
            "to_label",
            "status",
            "reason",
            "source",
            "account_id",
            "effective_at",
            "created_by",
            "created_at",
        ]


class _CodedChoiceField(serializers.Field):
    """A query parameter that must be one of ``choices`` exactly (case included); a missing
    (when required), empty or other value is one error with a fixed code and message."""

    def __init__(self, *, choices, code: str, message: str, **kwargs):
        super().__init__(**kwargs)
        self.choices = tuple(choices)
        self.code = code
        self.message = message

    def get_value(self, dictionary):
        # As given: an empty value is a value (refused), not an absent one.
        return dictionary.get(self.field_name, empty)

    def run_validation(self, data=empty):
        if data is empty and not self.required:
            raise SkipField()
        if not isinstance(data, str) or data not in self.choices:
            raise serializers.ValidationError(self.message, code=self.code)
        return data

    def to_representation(self, value):
        return value


class _IdentifierValueField(serializers.CharField):
    """The identifier as given (not trimmed: it is looked up as sent); blank is missing."""

    default_error_messages = {
        "8013": "Lookup, invalid identifier passed: identifierValue is missing."
    }

    def __init__(self, **kwargs):
        super().__init__(trim_whitespace=False, max_length=MAX_IDENTIFIER_LENGTH, **kwargs)

    def run_validation(self, data=empty):
        if data is empty or not str(data).strip():
            self.fail("8013")
        return super().run_validation(data)


class CustomerStatusLookupQuerySerializer(serializers.Serializer):
    """Query parameters of ``PUT /customers/lookup/status`` (Capillary's shape).

    Capillary answers one refusal at a time, checked in this order, with its own codes: 8003
    for the source, 8013 for the identifier; an over-long value is ``max_length``.
    """

    source = _CodedChoiceField(
        choices=SOURCES,
        code="8003",
        message=f"Invalid source: must be one of {', '.join(SOURCES)}.",
    )
    identifierName = _CodedChoiceField(
        choices=LOOKUP_IDENTIFIERS,
        code="8013",
        message="Lookup, invalid identifier passed: identifierName must be one of "
        f"{', '.join(LOOKUP_IDENTIFIERS)}.",
    )
    identifierValue = _IdentifierValueField()
    accountId = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=ACCOUNT_ID_MAX_LENGTH,
    )

    def get_fields(self) -> dict:
        fields = super().get_fields()
        # "async" is a Python keyword, so it cannot be declared as an attribute above.
        fields["async"] = _CodedChoiceField(
            choices=("true", "false"),
            code="invalid",
            message="Must be true or false.",
            required=False,
        )
        return fields

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as error:
            attr, errors = next(iter(error.detail.items()))
            raise serializers.ValidationError({attr: errors}) from None
