from rest_framework import serializers

from config.api.fields import NameField, StrictBooleanField
from config.api.serializers import ApiModelSerializer, ReasonField
from segments.models import Segment


def name_list() -> serializers.ListField:
    return serializers.ListField(child=NameField(), required=False, max_length=100)


class SegmentRuleSerializer(serializers.Serializer):
    """Members have every tag in ``all``, one of ``any`` (if given), none of ``none``, and one
    of ``status_labels`` (if given). Names match case-insensitively."""

    # At least one condition (an empty rule is a 400).
    schema_any_of_required = (["all"], ["any"], ["none"], ["status_labels"])
    schema_any_of_nonempty = True

    all = name_list()
    any = name_list()
    none = name_list()
    status_labels = name_list()


class SegmentSerializer(ApiModelSerializer):
    name = NameField()
    is_active = StrictBooleanField(required=False)
    rule = SegmentRuleSerializer()
    reason = ReasonField()

    class Meta:
        model = Segment
        fields = [
            "id",
            "name",
            "description",
            "is_active",
            "rule",
            "created_at",
            "updated_at",
            "reason",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"description": {"max_length": 10_000}}


class SegmentCountSerializer(serializers.Serializer):
    segment_id = serializers.CharField()
    customer_count = serializers.IntegerField()


class SegmentPreviewRequestSerializer(serializers.Serializer):
    rule = SegmentRuleSerializer()
