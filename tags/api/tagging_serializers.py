"""Request and response shapes of the tagging endpoints on /customers/ (StateSet / Masivo)."""

from datetime import UTC, date, datetime, time

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import (
    ProhibitNullCharactersValidator,
    ProhibitSurrogateCharactersValidator,
)

from config.api.fields import (
    ApiDateTimeField,
    DateTimeInputField,
    StrictBooleanField,
    StrictCharField,
)
from config.api.serializers import ReasonField
from tags.models import TagAssignment

TAG_NAME_PATTERN = r"^[A-Za-z0-9_\- ]*[A-Za-z0-9_\-][A-Za-z0-9_\- ]*$"
MAX_NAMES = 100


class TagNameField(StrictCharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 100)
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)
        self.validators.append(RegexValidator(TAG_NAME_PATTERN, "Not a valid tag name."))


@extend_schema_field(
    {
        "oneOf": [  # the lengths keep the branches apart for validators that skip formats
            {"type": "string", "format": "date", "maxLength": 10, "example": "2024-12-31"},
            {
                "type": "string",
                "format": "date-time",
                "minLength": 11,
                "maxLength": 64,
                "example": "2024-12-31T18:00:00Z",
            },
        ],
        "description": "A date (the assignment lasts to the end of that day, UTC) or a datetime.",
    }
)
class ExpiryField(serializers.Field):
    """``2024-12-31`` means until the end of that day UTC; a datetime is taken as given."""

    default_error_messages = {"invalid": "Use a date (YYYY-MM-DD) or an ISO 8601 datetime."}

    def to_internal_value(self, data) -> datetime:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            return datetime.combine(date.fromisoformat(data), time.max, tzinfo=UTC)
        except ValueError:
            pass
        parsed = DateTimeInputField().to_internal_value(data)
        return parsed

    def to_representation(self, value):
        return value.isoformat()


class IdentifierField(StrictCharField):
    """Any string: one that cannot match a customer is reported back, not refused."""

    def __init__(self, **kwargs):
        super().__init__(max_length=254, allow_blank=True, trim_whitespace=False, **kwargs)
        self.validators = [
            v
            for v in self.validators
            if not isinstance(
                v, (ProhibitNullCharactersValidator, ProhibitSurrogateCharactersValidator)
            )
        ]


class TagMetadataInputSerializer(serializers.Serializer):
    category = StrictCharField(max_length=50, required=False, allow_blank=True)
    source = StrictCharField(max_length=50, required=False, allow_blank=True)
    expiry_date = ExpiryField(required=False, allow_null=True)


class CustomerTagRequestSerializer(serializers.Serializer):
    customer_id = StrictCharField(
        required=False, max_length=254, help_text="Optional; must equal {id}."
    )
    tags_to_add = serializers.ListField(
        child=TagNameField(), required=False, max_length=MAX_NAMES, default=list
    )
    tags_to_remove = serializers.ListField(
        child=TagNameField(), required=False, max_length=MAX_NAMES, default=list
    )
    create_missing = StrictBooleanField(required=False, default=True)
    tag_metadata = TagMetadataInputSerializer(required=False)
    reason = ReasonField()


class SegmentMatchSerializer(serializers.Serializer):
    id = StrictCharField()
    name = StrictCharField()
    matched_by_tags = serializers.ListField(child=StrictCharField())


class CustomerTagResponseSerializer(serializers.Serializer):
    id = StrictCharField()
    current_tags = serializers.ListField(child=StrictCharField())
    tags_added = serializers.ListField(child=StrictCharField())
    tags_removed = serializers.ListField(child=StrictCharField())
    tag_count = serializers.IntegerField()
    segments = SegmentMatchSerializer(many=True)
    warnings = serializers.ListField(child=StrictCharField())
    updated_at = ApiDateTimeField()
    updated_by = StrictCharField(allow_null=True)
    success = StrictBooleanField()


class TagAssignmentSerializer(serializers.ModelSerializer):
    """One current tag of a customer, with the metadata of its assignment."""

    tag_id = StrictCharField(source="tag.id")
    name = StrictCharField(source="tag.name")
    assigned_by = StrictCharField(source="assigned_by.username", allow_null=True, default=None)
    expires_at = ApiDateTimeField(allow_null=True)
    created_at = ApiDateTimeField()

    class Meta:
        model = TagAssignment
        fields = ["tag_id", "name", "category", "source", "expires_at", "assigned_by", "created_at"]


class CustomerTagsListSerializer(serializers.Serializer):
    tags = TagAssignmentSerializer(many=True)


class BulkTagFilterSerializer(serializers.Serializer):
    tags = StrictCharField(
        required=False, max_length=1000, help_text="Has all of these (comma-separated)."
    )
    tags_any = StrictCharField(required=False, max_length=1000)
    tags_none = StrictCharField(required=False, max_length=1000)
    search = StrictCharField(required=False, max_length=1000)
    status = StrictCharField(required=False, max_length=1000)
    label = StrictCharField(required=False, max_length=1000)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)


class BulkTagRequestSerializer(serializers.Serializer):
    customer_ids = serializers.ListField(
        child=IdentifierField(),
        required=False,
        max_length=10_000,
        help_text="Up to 10,000 identifiers; ones matching nobody come back in unknown_ids.",
    )
    identify_by = serializers.ChoiceField(
        choices=["id", "reference_id", "email", "mobile"], required=False, default="id"
    )
    filter = BulkTagFilterSerializer(required=False)
    tags_to_add = serializers.ListField(
        child=TagNameField(), required=False, max_length=MAX_NAMES, default=list
    )
    tags_to_remove = serializers.ListField(
        child=TagNameField(), required=False, max_length=MAX_NAMES, default=list
    )
    create_missing = StrictBooleanField(required=False, default=True)
    tag_metadata = TagMetadataInputSerializer(required=False)
    reason = ReasonField()

    # At least one selection (both: customers in the list that also match the filter).
    schema_any_of_required = (["customer_ids"], ["filter"])

    def validate(self, attrs):
        if "customer_ids" not in attrs and "filter" not in attrs:
            raise serializers.ValidationError("Give customer_ids, filter or both.", code="invalid")
        return attrs


class BulkTagResponseSerializer(serializers.Serializer):
    matched = serializers.IntegerField()
    tags_added = serializers.IntegerField()
    tags_removed = serializers.IntegerField()
    unknown_ids = serializers.ListField(child=StrictCharField())
    warnings = serializers.ListField(child=StrictCharField())
