from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.fields import ApiDateTimeField, DateTimeInputField, NameField, StrictCharField
from config.api.serializers import ApiModelSerializer, ReasonField
from statuses.models import ADMIN_SOURCE, SOURCES, Status, StatusChange, StatusLabel, name_key


@extend_schema_field({"type": "string", "minLength": 1})
class LabelByNameField(serializers.RelatedField):
    """A status label named by its name (any case)."""

    default_error_messages = {
        "does_not_exist": "No status label named '{value}'.",
        "invalid": "Must be a string.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("queryset", StatusLabel.objects.all())
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        label = self.get_queryset().filter(name_key=name_key(data)).first()
        if label is None:
            self.fail("does_not_exist", value=data)
        return label

    def to_representation(self, value):
        return value.name


@extend_schema_field({"type": "string", "minLength": 1})
class StatusByNameField(LabelByNameField):
    default_error_messages = {
        "does_not_exist": "No status named '{value}'.",
        "invalid": "Must be a string.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("queryset", Status.objects.all())
        super().__init__(**kwargs)


class StatusSerializer(ApiModelSerializer):
    name = NameField()
    labels = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")
    allowed_next = LabelByNameField(
        many=True,
        required=False,
        help_text="Label names customers in this status may move to; empty = any.",
    )
    reason = ReasonField()

    class Meta:
        model = Status
        fields = [
            "id",
            "name",
            "description",
            "labels",
            "allowed_next",
            "created_at",
            "updated_at",
            "reason",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


class StatusLabelSerializer(ApiModelSerializer):
    name = NameField()
    status = StatusByNameField(help_text="The status's name.")
    allowed_next = LabelByNameField(
        many=True,
        required=False,
        help_text="Label names a customer with this label may move to; empty = any.",
    )
    reason = ReasonField()

    class Meta:
        model = StatusLabel
        fields = [
            "id",
            "name",
            "status",
            "description",
            "allowed_next",
            "created_at",
            "updated_at",
            "reason",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


class StatusChangeRequestSerializer(serializers.Serializer):
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


class CustomerStatusSerializer(serializers.Serializer):
    status = serializers.CharField(source="status.name")
    label = serializers.CharField(source="name")
