from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.fields import ApiDateTimeField, StrictBooleanField, StrictCharField
from config.api.serializers import ApiModelSerializer, RequestSerializer
from config.webhooks.models import URL_MAX_LENGTH, DeliveryState, WebhookDelivery, WebhookEndpoint
from config.webhooks.services import DESCRIPTION_MAX, MAX_TYPES, TYPE_PATTERNS
from config.webhooks.transport import URL_PATTERN


@extend_schema_field(
    {"type": "string", "format": "uri", "maxLength": URL_MAX_LENGTH, "pattern": URL_PATTERN}
)
class WebhookUrlField(StrictCharField):
    """An http(s) URL without user name or fragment; where it resolves is checked after."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", URL_MAX_LENGTH)
        super().__init__(**kwargs)
        self.validators.append(
            RegexValidator(
                URL_PATTERN,
                "Give an http(s) URL: an ASCII host, an optional port, a path; no user name, "
                "no #fragment.",
            )
        )


class WebhookEndpointSerializer(ApiModelSerializer):
    """Where events are sent, which ones, and whether sending is on. The signing secret is
    shown once: in the answer to the create and to ``rotate_secret``."""

    url = WebhookUrlField(
        help_text="https:// (or http://) URL; it must resolve to a public address."
    )
    description = StrictCharField(max_length=DESCRIPTION_MAX, required=False, allow_blank=True)
    types = serializers.ListField(
        child=serializers.ChoiceField(choices=TYPE_PATTERNS),
        min_length=1,
        max_length=MAX_TYPES,
        help_text="Event types to send: exact types (`customer.created`), wildcards "
        "(`customer.*`) or `*` for every type.",
    )
    is_active = StrictBooleanField(
        required=False,
        help_text="Off: nothing is sent (deliveries owed wait). Turning it on again clears "
        "`disabled_reason`.",
    )
    disabled_at = ApiDateTimeField(read_only=True, allow_null=True)
    disabled_reason = serializers.CharField(
        read_only=True,
        help_text="Why Tagdesk turned the endpoint off (410 Gone, 5 days of failures); empty "
        "otherwise.",
    )
    created_at = ApiDateTimeField(read_only=True)
    updated_at = ApiDateTimeField(read_only=True)

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "types",
            "is_active",
            "disabled_at",
            "disabled_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "disabled_at", "disabled_reason", "created_at", "updated_at"]


class WebhookEndpointWithSecretSerializer(WebhookEndpointSerializer):
    """The endpoint with its new signing secret, shown this once."""

    secret = serializers.SerializerMethodField(
        help_text="`whsec_` + base64: verify requests with it (Standard Webhooks). Shown only "
        "now. After a rotation the previous secret keeps signing for 24 hours."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]

    def get_secret(self, obj: WebhookEndpoint) -> str:
        return self.context["secret"]


class WebhookDeliverySerializer(ApiModelSerializer):
    """One event owed to one endpoint: its state, attempts and the last answer."""

    endpoint_id = serializers.CharField(read_only=True)
    event_id = serializers.CharField(
        read_only=True, help_text="The event's id; the `webhook-id` header of every attempt."
    )
    event_type = serializers.CharField(read_only=True)
    state = serializers.ChoiceField(choices=DeliveryState.choices, read_only=True)
    attempts = serializers.IntegerField(
        read_only=True, help_text="Attempts since the schedule last started."
    )
    next_attempt_at = ApiDateTimeField(
        source="next_attempt_due",
        read_only=True,
        allow_null=True,
        help_text="When the next attempt is due (pending deliveries); null otherwise.",
    )
    last_status = serializers.IntegerField(read_only=True, allow_null=True)
    last_error = serializers.CharField(read_only=True)
    delivered_at = ApiDateTimeField(read_only=True, allow_null=True)
    created_at = ApiDateTimeField(read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint_id",
            "event_id",
            "event_type",
            "state",
            "attempts",
            "next_attempt_at",
            "last_status",
            "last_error",
            "delivered_at",
            "created_at",
        ]
        read_only_fields = fields


class EmptyRequestSerializer(RequestSerializer):
    """No body (or ``{}``)."""
