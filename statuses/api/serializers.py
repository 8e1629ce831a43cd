from django.core.validators import MaxLengthValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.relations import MANY_RELATION_KWARGS

from config.api.fields import NameField
from config.api.serializers import ApiModelSerializer, ReasonField
from config.names import name_key
from statuses.models import Status, StatusLabel

DESCRIPTION_MAX_LENGTH = 10_000
NAME_MAX_LENGTH = 100
MAX_LABELS = 100


class LabelListField(serializers.ManyRelatedField):
    """Several labels by name, as a JSON array (DRF iterates any iterable: ``{"Active": 1}``
    would be read as ``["Active"]``) of at most ``max_length`` (the schema's ``maxItems``)."""

    max_length = MAX_LABELS
    default_error_messages = {"max_length": "Give at most {max_length} labels."}

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        if len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class _NameLengthDocumented(MaxLengthValidator):
    """Runs on the looked-up object, so it never fails; its code documents ``max_length``."""

    def clean(self, x) -> int:
        return len(x) if isinstance(x, str) else 0


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": NAME_MAX_LENGTH})
class LabelByNameField(serializers.RelatedField):
    """A status label named by its name (any case)."""

    default_error_messages = {
        "does_not_exist": "No status label named '{value}'.",
        "invalid": "Must be a string.",
        "max_length": f"Ensure this field has no more than {NAME_MAX_LENGTH} characters.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("queryset", StatusLabel.objects.all())
        super().__init__(**kwargs)
        # Checked before the lookup (to_internal_value); listed here so the schema knows it.
        self.validators.append(_NameLengthDocumented(NAME_MAX_LENGTH))

    @classmethod
    def many_init(cls, *args, **kwargs):
        list_kwargs = {"child_relation": cls(*args, **kwargs)}
        for key in kwargs:
            if key in MANY_RELATION_KWARGS:
                list_kwargs[key] = kwargs[key]
        return LabelListField(**list_kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if len(data) > NAME_MAX_LENGTH:
            self.fail("max_length")
        label = self.get_queryset().filter(name_key=name_key(data)).first()
        if label is None:
            self.fail("does_not_exist", value=data)
        return label

    def to_representation(self, value):
        return value.name


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": NAME_MAX_LENGTH})
class StatusByNameField(LabelByNameField):
    default_error_messages = {
        **LabelByNameField.default_error_messages,
        "does_not_exist": "No status named '{value}'.",
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
        extra_kwargs = {"description": {"max_length": DESCRIPTION_MAX_LENGTH}}


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
        extra_kwargs = {"description": {"max_length": DESCRIPTION_MAX_LENGTH}}
