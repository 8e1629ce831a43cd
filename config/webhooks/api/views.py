from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from config.api.viewsets import ApiModelViewSet, ApiViewMixin, lookup_by_id, sublist_schema
from config.webhooks import services
from config.webhooks.api.serializers import (
    EmptyRequestSerializer,
    WebhookDeliverySerializer,
    WebhookEndpointSerializer,
    WebhookEndpointWithSecretSerializer,
)
from config.webhooks.models import WebhookDelivery, WebhookEndpoint
from config.webhooks.tasks import webhook_send, webhooks_dispatch


def with_secret(view, endpoint: WebhookEndpoint, secret: str, code: int) -> Response:
    context = {**view.get_serializer_context(), "secret": secret}
    data = WebhookEndpointWithSecretSerializer(endpoint, context=context).data
    return Response({view.envelope: data}, status=code)


def start_dispatch() -> None:
    """Deliveries for a new or re-enabled endpoint start without waiting for the schedule."""
    transaction.on_commit(webhooks_dispatch.enqueue)


class WebhookEndpointViewSet(ApiModelViewSet):
    """Webhook endpoints: where events are sent, signed per Standard Webhooks v1."""

    serializer_class = WebhookEndpointSerializer
    envelope = "webhook_endpoint"
    envelope_plural = "webhook_endpoints"
    identify_by = {"id": lookup_by_id}
    enveloped_actions = ("rotate_secret",)
    action_permissions = {
        "rotate_secret": ["webhooks.change_webhookendpoint"],
        "deliveries": ["webhooks.view_webhookendpoint", "webhooks.view_webhookdelivery"],
    }
    ordering_fields = ("id",)

    def get_queryset(self):
        return WebhookEndpoint.objects.all()

    @extend_schema(
        responses={201: WebhookEndpointWithSecretSerializer},
        description="Create an endpoint. The answer carries its signing `secret`, shown only "
        "this once. A URL resolving to a private, loopback or link-local address is refused.",
    )
    def create(self, request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint, secret = services.webhook_endpoint_create(
            data=serializer.validated_data, actor=request.user
        )
        start_dispatch()
        return with_secret(self, endpoint, secret, status.HTTP_201_CREATED)

    def perform_update(self, serializer) -> WebhookEndpoint:
        endpoint = services.webhook_endpoint_update(
            endpoint=serializer.instance, data=serializer.validated_data
        )
        if serializer.validated_data.get("is_active"):
            start_dispatch()
        return endpoint

    def perform_destroy(self, instance: WebhookEndpoint) -> None:
        services.webhook_endpoint_delete(endpoint=instance)

    @extend_schema(
        operation_id="webhook_endpoint_rotate_secret",
        summary="Rotate an endpoint's signing secret",
        description="A new secret, shown only in this answer. Requests are signed with both "
        "the new and the previous secret for 24 hours, so receivers can switch without a gap.",
        request=EmptyRequestSerializer,
        responses={200: WebhookEndpointWithSecretSerializer},
    )
    @action(detail=True, methods=["post"])
    def rotate_secret(self, request, *args, **kwargs) -> Response:
        EmptyRequestSerializer(data=request.data).is_valid(raise_exception=True)
        endpoint = self.get_object()
        secret = services.webhook_endpoint_rotate_secret(endpoint=endpoint)
        return with_secret(self, endpoint, secret, status.HTTP_200_OK)

    @extend_schema(
        operation_id="webhook_endpoint_deliveries",
        summary="List an endpoint's deliveries",
        **sublist_schema("WebhookDeliveryPage", "webhook_deliveries", WebhookDeliverySerializer),
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def deliveries(self, request, *args, **kwargs) -> Response:
        """Every event owed to the endpoint, oldest first: state, attempts, last answer."""
        endpoint = self.get_object()
        return self.paginated_response(
            WebhookDelivery.objects.filter(endpoint=endpoint),
            WebhookDeliverySerializer,
            envelope="webhook_deliveries",
        )


class WebhookDeliveryViewSet(ApiViewMixin, viewsets.GenericViewSet):
    """Deliveries: sending one again."""

    serializer_class = WebhookDeliverySerializer
    envelope = "webhook_delivery"
    envelope_plural = "webhook_deliveries"
    identify_by = {"id": lookup_by_id}
    enveloped_actions = ("retry",)
    action_permissions = {"retry": ["webhooks.change_webhookdelivery"]}

    def get_queryset(self):
        return WebhookDelivery.objects.all()

    @extend_schema(
        operation_id="webhook_delivery_retry",
        summary="Send a delivery again",
        description="Send the delivery again now, whatever its state, with a fresh retry "
        "schedule (the same `webhook-id`). It still waits behind an earlier delivery for the "
        "same customer, and for its endpoint to be active.",
        request=EmptyRequestSerializer,
        responses={200: WebhookDeliverySerializer},
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, *args, **kwargs) -> Response:
        EmptyRequestSerializer(data=request.data).is_valid(raise_exception=True)
        delivery = self.get_object()
        services.webhook_delivery_replay(delivery=delivery)
        transaction.on_commit(lambda: webhook_send.enqueue(delivery.id))
        return self.enveloped(delivery)
