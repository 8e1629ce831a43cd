from datetime import datetime

from django.db import transaction

from config.events.models import Event
from config.events.services import event_record
from config.fields import new_ulid
from config.webhooks import services
from config.webhooks.models import WebhookDelivery, WebhookEndpoint
from config.webhooks.tasks import render_events


def endpoint_for(url: str, types: list[str] | None = None) -> tuple[WebhookEndpoint, str]:
    return services.webhook_endpoint_create(data={"url": url, "types": types or ["*"]})


def an_event(type: str = "customer.updated", customer_id: str | None = None) -> Event:
    with transaction.atomic():
        return event_record(
            type=type, customer_id=customer_id or new_ulid(), data={"changed": ["name"]}
        )


def owed(endpoint: WebhookEndpoint, event: Event, *, now: datetime) -> WebhookDelivery:
    """The delivery the fan-out would create for ``event`` (made directly, so the test needs
    no committed transaction)."""
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id=event.id,
        event_type=event.type,
        event_txid=event.txid,
        customer_id=event.customer_id,
        next_attempt_at=now,
    )


def send(delivery: WebhookDelivery, *, now: datetime) -> services.SendResult:
    return services.webhook_deliver(delivery_id=delivery.id, render=render_events, now=now)
