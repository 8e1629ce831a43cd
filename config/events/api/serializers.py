from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.fields import ApiDateTimeField
from config.api.serializers import ApiModelSerializer
from config.events.models import ACTOR_TYPE_CHOICES, Event


class EventActorSerializer(serializers.Serializer):
    """Who made the change: a user (admin, Basic auth), an API token, or the system (commands
    and jobs without a user)."""

    type = serializers.ChoiceField(choices=ACTOR_TYPE_CHOICES)
    id = serializers.CharField(
        allow_null=True, help_text="The user's or the token's id; null for the system."
    )
    username = serializers.CharField(help_text="The user's (or the token owner's) username.")

    def to_representation(self, instance: Event) -> dict:
        return {
            "type": instance.actor_type,
            "id": instance.actor_id or None,
            "username": instance.actor_username,
        }


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {},
        "description": "What changed; its shape depends on `type` (listed in the feed's description). "
        "Datetimes inside it are ISO 8601 strings whatever `X-Datetime-Format` asks.",
    }
)
class EventDataField(serializers.JSONField):
    pass


class EventSerializer(ApiModelSerializer):
    """One change: its type, when, who, in which request and change-set, about which customer
    and subject, and what changed (``data``)."""

    occurred_at = ApiDateTimeField()
    actor = EventActorSerializer(source="*")
    request_id = serializers.CharField(
        allow_null=True, help_text="The `X-Request-ID` of the API request that made the change."
    )
    change_set_id = serializers.CharField(allow_null=True)
    customer_id = serializers.CharField(allow_null=True, help_text="The customer it is about.")
    subject_id = serializers.CharField(
        allow_null=True, help_text="The tag, segment or customer the event is about."
    )
    data = EventDataField()

    class Meta:
        model = Event
        fields = [
            "id",
            "type",
            "occurred_at",
            "actor",
            "request_id",
            "change_set_id",
            "customer_id",
            "subject_id",
            "data",
        ]
        read_only_fields = fields

    def to_representation(self, instance: Event) -> dict:
        data = super().to_representation(instance)
        data["request_id"] = data["request_id"] or None
        return data
