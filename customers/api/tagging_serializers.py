"""Request and response shapes of the tagging endpoints on /customers/ (StateSet / Masivo)."""

from datetime import UTC, date, datetime, time

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import (
    ProhibitNullCharactersValidator,
    ProhibitSurrogateCharactersValidator,
)

from config.api.fields import (
    ApiDateTimeField,
    CommaSeparatedListField,
    DateTimeInputField,
    StrictBooleanField,
    StrictCharField,
)
from config.api.serializers import PermissionFieldsMixin, ReasonField, RequestSerializer
from customers.selectors import IDENTIFIERS
from tags.models import TAG_NAME_MAX_LENGTH, TagAssignment, tag_name_validator

MAX_NAMES = settings.MAX_TAG_NAMES_PER_REQUEST


class TagNameField(StrictCharField):
    """A tag name as the tagging requests give it (tags' own rule: ``tag_name_validator``)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", TAG_NAME_MAX_LENGTH)
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)
        self.validators.append(tag_name_validator)


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


class TagMetadataInputSerializer(RequestSerializer):
    category = StrictCharField(max_length=50, required=False, allow_blank=True)
    source = StrictCharField(max_length=50, required=False, allow_blank=True)
    expiry_date = ExpiryField(required=False, allow_null=True)


class CustomerTagRequestSerializer(RequestSerializer):
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


class CustomerTagResponseSerializer(PermissionFieldsMixin, serializers.Serializer):
    """What a tagging call changed and the customer's tags and segments after it."""

    id = StrictCharField()
    current_tags = serializers.ListField(child=StrictCharField())
    tags_added = serializers.ListField(child=StrictCharField())
    tags_removed = serializers.ListField(child=StrictCharField())
    tag_count = serializers.IntegerField()
    segments = SegmentMatchSerializer(
        many=True,
        required=False,
        help_text="Active segments the customer is in; absent for a caller without "
        "`segments.view_segment`.",
    )
    warnings = serializers.ListField(child=StrictCharField())
    updated_at = ApiDateTimeField()
    updated_by = StrictCharField(allow_null=True)
    success = StrictBooleanField()

    field_permissions = {"segments": "segments.view_segment"}


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


def tag_name_list(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=TagNameField(), required=False, max_length=MAX_NAMES, help_text=help_text
    )


class CustomerFilterRequestSerializer(RequestSerializer):
    """The customer list filters as a JSON object (lists as arrays), for bulk selections.
    An empty filter is refused: selecting every customer takes an explicit ``"all": true``."""

    min_fields = 1

    tags = tag_name_list("Has all of these tags.")
    tags_any = tag_name_list("Has at least one of these tags.")
    tags_none = tag_name_list("Has none of these tags.")
    search = StrictCharField(
        required=False, max_length=255, help_text="Name, email, reference id or mobile contains."
    )
    status = StrictCharField(required=False, max_length=100, help_text="Status name (any case).")
    label = StrictCharField(
        required=False, max_length=100, help_text="Status label name (any case)."
    )
    segment = StrictCharField(
        required=False, max_length=26, help_text="Member of this segment (id)."
    )
    created_after = DateTimeInputField(required=False)
    created_before = DateTimeInputField(required=False)


class BulkTagRequestSerializer(RequestSerializer):
    customer_ids = serializers.ListField(
        child=IdentifierField(),
        required=False,
        max_length=10_000,
        help_text="Up to 10,000 identifiers; ones matching nobody come back in unknown_ids.",
    )
    identify_by = serializers.ChoiceField(choices=list(IDENTIFIERS), required=False, default="id")
    filter = CustomerFilterRequestSerializer(
        required=False, help_text="Customers matching every filter given."
    )
    all = StrictBooleanField(
        required=False,
        default=False,
        help_text="Select every customer: required when neither customer_ids nor a non-empty "
        "filter is given.",
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
    dry_run = StrictBooleanField(
        required=False,
        default=False,
        help_text="Preview: count what the change would do (`preview` in the answer) and "
        "write nothing; refused as the change itself would be.",
    )

    # At least one selection (both: customers in the list that also match the filter).
    schema_any_of_required = (["customer_ids"], ["filter"], ["all"])

    def validate(self, attrs):
        selects = "customer_ids" in attrs or "filter" in attrs
        if attrs["all"] and selects:
            detail = "Give all or customer_ids/filter, not both."
            raise serializers.ValidationError(
                {"all": [serializers.ErrorDetail(detail, "all_with_selection")]}
            )
        if not attrs["all"] and not selects:
            raise serializers.ValidationError(
                {
                    "filter": [
                        serializers.ErrorDetail(
                            "Give customer_ids, a filter, or both; to select every customer "
                            'send "all": true.',
                            "empty_selection",
                        )
                    ]
                }
            )
        return attrs


class CustomerUntagQuerySerializer(serializers.Serializer):
    """Query parameters of ``DELETE /customers/{id}/tags`` (errors name ``keys``)."""

    keys = CommaSeparatedListField(child=TagNameField(), max_items=MAX_NAMES)
    reason = StrictCharField(required=False, allow_blank=True, max_length=255)


class BulkTagPreviewTagSerializer(serializers.Serializer):
    name = serializers.CharField()
    gain = serializers.IntegerField(help_text="Customers who would gain the tag.")
    lose = serializers.IntegerField(help_text="Customers who would lose the tag.")


class BulkTagPreviewSerializer(serializers.Serializer):
    """What a dry run found: nothing of it was written."""

    changed = serializers.IntegerField(help_text="Customers the change would change.")
    tags = BulkTagPreviewTagSerializer(
        many=True, help_text="Each tag to add or remove, by name, in the order given."
    )
    over_limit = serializers.IntegerField(
        help_text=f"Customers the change would take past {settings.MAX_TAGS_PER_CUSTOMER} "
        "tags: while there are any, the change itself is refused (`too_many_tags`)."
    )
    created_tags = serializers.ListField(
        child=StrictCharField(),
        help_text="Tags to add that do not exist yet: they would be created.",
    )
    sample = serializers.ListField(
        child=StrictCharField(),
        help_text="The ids of up to 20 customers the change would change, in id order.",
    )


class BulkTagResponseSerializer(serializers.Serializer):
    dry_run = StrictBooleanField(help_text="True: a preview, nothing was written.")
    change_set_id = serializers.CharField(
        allow_null=True,
        help_text="The change-set recording this change (`GET /change_sets/{id}`); null on "
        "a dry run.",
    )
    matched = serializers.IntegerField()
    tags_added = serializers.IntegerField(help_text="Assignments added (on a dry run: to be).")
    tags_removed = serializers.IntegerField(help_text="Assignments removed (on a dry run: to be).")
    unknown_ids = serializers.ListField(child=StrictCharField())
    warnings = serializers.ListField(child=StrictCharField())
    preview = BulkTagPreviewSerializer(
        allow_null=True, help_text="On a dry run, what the change would do; else null."
    )


class BulkTagAcceptedSerializer(serializers.Serializer):
    """The answer to a bulk_tag over ``CHANGE_SET_SYNC_MAX`` customers: it runs in the
    background as a change-set (follow `Location`)."""

    change_set_id = serializers.CharField(help_text="`GET /change_sets/{id}` for its progress.")
    state = serializers.ChoiceField(choices=["planned"], help_text="Always `planned` here.")
    matched = serializers.IntegerField()
    unknown_ids = serializers.ListField(child=StrictCharField())
    warnings = serializers.ListField(child=StrictCharField())
