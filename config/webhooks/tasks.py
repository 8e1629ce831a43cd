"""The webhook jobs: dispatch (fan out, wake workers for the due deliveries, schedule the next
dispatch) and send (a worker claims due deliveries in batches and sends them). The queue only
wakes workers: the delivery rows say what is owed, and a send job carries no delivery.

The body a receiver gets is the event as the API's change feed renders it, so this module
renders in the feed's shape (``EventSerializer``'s, written out by hand from rows: the same
bytes) and hands the result to the services."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from config.events.api.representations import events_rendered
from config.jobs import job, jobs_queued
from config.webhooks import services
from config.webhooks.models import DeliveryState

# Send jobs waiting in the queue at most: the dispatch enqueues one per batch of due
# deliveries up to this, less those already waiting.
SEND_JOBS_MAX = 4
# A send job claims batch after batch for this long, then ends (the worker's other jobs, the
# dispatch among them, get their turn; the dispatch wakes it again while work is due).
SEND_JOB_SECONDS = 10.0


def render_events(ids: list[str]) -> dict[str, dict]:
    """The events of ``ids`` as ``GET /api/v1/events/{id}`` shows them (the body's ``data``),
    by id; those gone from the log are left out."""
    return events_rendered(ids)


@job
def webhook_send_due() -> dict:
    """Send due deliveries, batch after batch (see ``services.webhooks_send_due``)."""
    return services.webhooks_send_due(render=render_events, seconds=SEND_JOB_SECONDS)


@job
def webhook_send(delivery_id: str) -> str | None:
    """Send one delivery now if it is sendable (a retry asked for over the API). Once it is
    done with, the next one for its customer may be due: a send job is woken for it."""
    result = services.webhook_deliver(delivery_id=delivery_id, render=render_events)
    if result.state not in {None, DeliveryState.PENDING}:
        webhook_send_due.enqueue()
    return result.state


def wake_senders() -> int:
    """Enqueue the send jobs the due deliveries call for, beyond those already waiting."""
    waiting = jobs_queued(webhook_send_due)
    if waiting >= SEND_JOBS_MAX:
        return 0
    wanted = services.webhooks_senders_wanted(limit=SEND_JOBS_MAX) - waiting
    for _ in range(wanted):
        webhook_send_due.enqueue()
    return max(wanted, 0)


@job
def webhooks_dispatch(token: str = "") -> dict:
    """Fan out new events, wake workers for the due deliveries, and, if this run holds the
    chain's turn, schedule the next run ``WEBHOOK_DISPATCH_SECONDS`` later. The periodic
    schedule starts a chain that has stopped (a lost message, a flushed queue)."""
    created = services.webhooks_fan_out()
    woken = wake_senders()
    next_token = services.webhooks_chain_turn(token=token)
    if next_token:
        run_after = timezone.now() + timedelta(seconds=settings.WEBHOOK_DISPATCH_SECONDS)
        webhooks_dispatch.using(run_after=run_after).enqueue(next_token)
    return {"deliveries_created": created, "send_jobs": woken, "chained": bool(next_token)}
