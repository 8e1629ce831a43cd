from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.fields import ApiDateTimeField, StrictCharField
from config.api.serializers import ApiModelSerializer, ReasonField, RequestSerializer
from tags.models import (
    TAG_NAME_MAX_LENGTH,
    TAG_NAME_PATTERN,
    ChangeSet,
    Tag,
    default_tag_metadata,
    tag_name_validator,
    tag_reference_validator,
)


class TagMetadataInfoItemSerializer(RequestSerializer):
    key = StrictCharField(min_length=1, max_length=50, trim_whitespace=False)
    value = StrictCharField(min_length=1, max_length=255, trim_whitespace=False)


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string", "minLength": 1, "maxLength": 255},
        "maxItems": 50,
        "uniqueItems": True,
    }
)
class UniqueStringListField(serializers.ListField):
    """A list of distinct strings (``uniqueItems`` in the schema; duplicates are a 400)."""


class TagMetadataSerializer(RequestSerializer):
    """Payiano's metadata: ``info`` key/value pairs (keys unique) and a ``list`` of strings."""

    info = TagMetadataInfoItemSerializer(many=True, required=False, max_length=50)
    list = UniqueStringListField(
        child=StrictCharField(max_length=255, trim_whitespace=False),
        required=False,
        max_length=50,
    )

    def validate_info(self, value: list) -> list:
        seen: set[str] = set()
        errors = {}
        for index, item in enumerate(value):
            if item["key"] in seen:
                errors[index] = {"key": [serializers.ErrorDetail("Keys must be unique.", "unique")]}
            seen.add(item["key"])
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def validate_list(self, value: list) -> list:
        seen: set[str] = set()
        errors = {}
        for index, item in enumerate(value):
            if item in seen:
                errors[index] = [serializers.ErrorDetail("Items must be unique.", "unique")]
            seen.add(item)
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        return {
            "info": [dict(item) for item in value.get("info", [])],
            "list": value.get("list", []),
        }

    def to_representation(self, instance) -> dict:
        """The stored JSON as it is: a row written before a rule existed must still be readable
        (``manage.py check_stored_data`` lists such rows)."""
        if not isinstance(instance, dict):
            return default_tag_metadata()
        return {"info": list(instance.get("info", [])), "list": list(instance.get("list", []))}


@extend_schema_field(
    {
        "type": "string",
        "minLength": 1,
        "maxLength": TAG_NAME_MAX_LENGTH,
        "pattern": TAG_NAME_PATTERN,
    }
)
class TagNameModelField(StrictCharField):
    """A tag's name, checked by the tags' one rule (``tag_name_validator``)."""


class TagSerializer(ApiModelSerializer):
    name = TagNameModelField(
        max_length=TAG_NAME_MAX_LENGTH, trim_whitespace=False, validators=[tag_name_validator]
    )
    reference_id = StrictCharField(
        max_length=50, required=False, allow_null=True, validators=[tag_reference_validator]
    )
    description = StrictCharField(
        max_length=10_000, required=False, allow_null=True, allow_blank=True, trim_whitespace=False
    )
    metadata = TagMetadataSerializer(required=False, allow_null=True)
    customer_count = serializers.IntegerField(
        read_only=True, help_text="Customers currently carrying the tag."
    )
    aliases = serializers.SerializerMethodField(
        help_text="Names of tags merged into this one; they resolve to it in requests and rules."
    )
    merged_into = serializers.CharField(
        source="merged_into_id",
        read_only=True,
        allow_null=True,
        help_text="Set on a tag that was merged into another: that tag's id.",
    )
    reason = ReasonField()

    includable = {"customer_tag.metadata": "metadata"}

    class Meta:
        model = Tag
        fields = [
            "id",
            "name",
            "is_active",
            "reference_id",
            "description",
            "metadata",
            "is_deleted",
            "customer_count",
            "aliases",
            "merged_into",
            "created_at",
            "updated_at",
            "deleted_at",
            "reason",
        ]
        read_only_fields = ["id", "is_deleted", "created_at", "updated_at", "deleted_at"]

    @extend_schema_field({"type": "array", "items": {"type": "string"}})
    def get_aliases(self, tag: Tag) -> list[str]:
        return sorted(alias.name for alias in tag.aliases.all())

    def validate_description(self, value: str | None) -> str:
        return value or ""

    def validate_metadata(self, value: dict | None) -> dict:
        return value or default_tag_metadata()


class TagRestoreSerializer(RequestSerializer):
    reason = ReasonField()


class TagHistoryEntrySerializer(serializers.Serializer):
    history_id = serializers.IntegerField()
    type = serializers.ChoiceField(
        choices=["created", "changed", "deleted", "restored", "deleted_permanently"]
    )
    at = ApiDateTimeField()
    by = StrictCharField(allow_null=True, help_text="Username of who made the change.")
    reason = StrictCharField(allow_null=True)
    changes = serializers.DictField(
        child=serializers.ListField(min_length=2, max_length=2, child=serializers.JSONField()),
        help_text="{field: [old, new]}",
    )


class ChangeSetCountsSerializer(serializers.Serializer):
    """What a change-set did so far."""

    customers = serializers.IntegerField(help_text="Customers processed.")
    added = serializers.IntegerField(
        help_text="Assignments added; for a `status` change-set, customers moved to the label."
    )
    removed = serializers.IntegerField(help_text="Assignments removed.")
    conflicts = serializers.IntegerField(
        help_text="Customer × tag pairs a revert left alone: changed again since; for a "
        "`status` change-set, customers refused (their label may not move to the new one)."
    )
    skipped_limit = serializers.IntegerField(
        help_text="Customers left out because the change would take them past the tag limit: "
        "0 so far, as a bulk tag change refuses (or fails at the batch) instead of skipping."
    )


class ChangeSetConflictSerializer(serializers.Serializer):
    """A customer × tag a revert left alone: changed again since the change-set."""

    customer_id = serializers.CharField()
    tag_id = serializers.CharField()
    tag = serializers.CharField(help_text="The tag's name (empty if it is gone).")
    change = serializers.ChoiceField(
        choices=["added", "removed"], help_text="What the reverted change-set had done."
    )


class ChangeSetSerializer(ApiModelSerializer):
    """One bulk change: who asked for what, on which customers, and how it went."""

    kind = serializers.ChoiceField(choices=ChangeSet.Kind.choices, read_only=True)
    state = serializers.ChoiceField(
        choices=ChangeSet.State.choices,
        read_only=True,
        help_text="planned → running → done | failed | cancelled; done → reverted once a "
        "revert has undone it.",
    )
    selection = serializers.DictField(
        read_only=True,
        help_text="How the customers were chosen: `all`, `filter`, `customer_ids` (how many "
        "were listed), `segment`, `has_tags`, a `file`, `admin` (the admin's action: how many "
        "`selected`, or `select_across`); a merge: `tags`, the source tags' names.",
    )
    add = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Tag names added; a merge: the target tag; a status change: the new label.",
    )
    remove = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Tag names removed; a merge: the source tags.",
    )
    reason = serializers.CharField(read_only=True)
    created_by = serializers.CharField(
        source="created_by.username",
        read_only=True,
        allow_null=True,
        default=None,
        help_text="The username of who made the change; null for the system.",
    )
    counts = ChangeSetCountsSerializer(read_only=True)
    progress = serializers.FloatField(
        read_only=True, min_value=0, max_value=1, help_text="Customers processed, 0–1."
    )
    error = serializers.CharField(read_only=True, help_text="Why a failed change-set stopped.")
    conflicts = ChangeSetConflictSerializer(
        source="tag_conflicts",
        many=True,
        read_only=True,
        help_text="A revert's conflicts (the first 100; `counts.conflicts` has them all).",
    )
    started_at = ApiDateTimeField(read_only=True, allow_null=True)
    finished_at = ApiDateTimeField(read_only=True, allow_null=True)
    reverts = serializers.CharField(
        source="reverts_id",
        read_only=True,
        allow_null=True,
        help_text="The change-set this one reverts (kind revert).",
    )
    reverted_by = serializers.SerializerMethodField(
        help_text="The change-set that reverted this one, if any."
    )
    created_at = ApiDateTimeField(read_only=True)

    class Meta:
        model = ChangeSet
        fields = [
            "id",
            "kind",
            "state",
            "selection",
            "add",
            "remove",
            "reason",
            "created_by",
            "counts",
            "progress",
            "error",
            "conflicts",
            "started_at",
            "finished_at",
            "reverts",
            "reverted_by",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "string", "nullable": True})
    def get_reverted_by(self, change_set: ChangeSet) -> str | None:
        revert = getattr(change_set, "reverted_by", None)
        return revert.pk if revert is not None else None


class ChangeSetRevertSerializer(RequestSerializer):
    reason = ReasonField(
        help_text='Why it is reverted; kept in the history (default: "revert of <id>").'
    )


class ChangeSetCancelSerializer(RequestSerializer):
    """No body (or ``{}``)."""
