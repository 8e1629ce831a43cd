"""The webhook jobs: dispatch (fan out, wake the due deliveries, schedule the next dispatch)
and send one delivery. The queue only wakes workers: the delivery rows say what is owed.

The body a receiver gets is the event as the API's change feed renders it, so this module
renders with the feed's serializer and hands the result to the services."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from config.events.api.serializers import EventSerializer
from config.events.models import Event
from config.jobs import job, jobs_queued
from config.webhooks import services
from config.webhooks.models import WebhookDelivery

BODY_MAX_BYTES = 20 * 1024
# Sends queued at most: the dispatch wakes only as many as there is room for.
SEND_QUEUE_MAX = 1000


def render_body(delivery: WebhookDelivery, event: Event | None) -> dict | None:
    """``{type, timestamp, data}``: ``data`` is the event as ``GET /api/v1/events/{id}``
    shows it (a test event's stored payload). Over 20 KB, the event's own ``data`` is left out
    (``data_truncated``: read it from the API)."""
    if delivery.payload is not None:
        data = delivery.payload
        timestamp = data["occurred_at"]
    elif event is None:
        return None
    else:
        data = EventSerializer(event).data
        timestamp = data["occurred_at"]
    body = {"type": delivery.event_type, "timestamp": timestamp, "data": data}
    if len(services.body_json(body).encode()) > BODY_MAX_BYTES:
        body = {**body, "data": {**data, "data": None}, "data_truncated": True}
    return body


@job
def webhook_send(delivery_id: str) -> str | None:
    """Send one delivery (if it is still due), then wake the one it held back, if any."""
    result = services.webhook_deliver(delivery_id=delivery_id, render=render_body)
    for following in result.wake:
        webhook_send.enqueue(following)
    return result.state


@job
def webhooks_dispatch(token: str = "") -> dict:
    """Fan out new events, wake the due deliveries, and, if this run holds the chain's turn,
    schedule the next run ``WEBHOOK_DISPATCH_SECONDS`` later. The periodic schedule starts a
    chain that has stopped (a lost message, a flushed queue)."""
    created = services.webhooks_fan_out()
    room = SEND_QUEUE_MAX - jobs_queued(webhook_send)
    woken = services.webhooks_wake(limit=room) if room > 0 else []
    for delivery_id in woken:
        webhook_send.enqueue(delivery_id)
    next_token = services.webhooks_chain_turn(token=token)
    if next_token:
        run_after = timezone.now() + timedelta(seconds=settings.WEBHOOK_DISPATCH_SECONDS)
        webhooks_dispatch.using(run_after=run_after).enqueue(next_token)
    return {"deliveries_created": created, "woken": len(woken), "chained": bool(next_token)}
