"""Webhook writes: endpoints and their secrets, the fan-out of events into deliveries, sending
one delivery, its retry schedule, replays and test events.

The fan-out reads the event log through the change feed's own gap-free order
(``config.events.selectors.event_feed``) from a stored position, and in one transaction
creates the delivery rows of a batch of events and moves the position past them: an event
is fanned out once, and none is skipped, whatever order transactions commit in and whoever
wrote the event. Nothing here is called by the event writers.
"""

import base64
import json
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from config.events.models import EVENT_TYPES, Event
from config.events.selectors import event_feed, events_after
from config.exceptions import InvalidInput
from config.fields import new_ulid
from config.webhooks import transport
from config.webhooks.models import (
    TEST_EVENT_TYPE,
    DeliveryState,
    WebhookAttempt,
    WebhookCursor,
    WebhookDelivery,
    WebhookEndpoint,
)

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
PREVIOUS_SECRET_VALID = timedelta(hours=24)
# Standard Webhooks' suggested schedule: the first attempt at once, then after each failure.
RETRY_SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
JITTER = 0.1  # each wait is the schedule's ±10 %
RETRY_AFTER_MAX = timedelta(hours=24)
FAN_OUT_BATCH = 1000
WAKE_BATCH = 1000
MAX_TYPES = 50
TYPE_PATTERN_MAX = 64
DESCRIPTION_MAX = 500
# The time a worker holds a delivery it sends, beyond the request's timeout.
CLAIM_MARGIN = timedelta(seconds=30)
TYPE_PREFIXES = sorted({event_type.split(".", 1)[0] for event_type in EVENT_TYPES})
# Every entry an endpoint's filter may hold.
TYPE_PATTERNS = ["*", *(f"{prefix}.*" for prefix in TYPE_PREFIXES), *EVENT_TYPES]


# --- endpoints ------------------------------------------------------------------------------


def new_secret() -> str:
    """A signing secret in Standard Webhooks' form: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def types_clean(types: Any) -> list[str]:
    """The event-type filter: a non-empty list of known types, ``prefix.*`` wildcards or
    ``*``; duplicates dropped, order kept."""
    if not isinstance(types, list) or not types:
        raise InvalidInput(
            "Give a non-empty list of event types ('customer.created', 'customer.*', or '*').",
            attr="types",
        )
    if len(types) > MAX_TYPES:
        raise InvalidInput(f"Give at most {MAX_TYPES} event types.", attr="types")
    cleaned = []
    for pattern in types:
        if not isinstance(pattern, str) or len(pattern) > TYPE_PATTERN_MAX:
            raise InvalidInput("Each event type must be a short string.", attr="types")
        if pattern not in TYPE_PATTERNS:
            raise InvalidInput(
                f"Unknown event type {pattern!r}. Known: {', '.join(EVENT_TYPES)}; "
                f"wildcards: {', '.join(f'{p}.*' for p in TYPE_PREFIXES)}, *.",
                attr="types",
            )
        if pattern not in cleaned:
            cleaned.append(pattern)
    return cleaned


def types_match(patterns: list[str], event_type: str) -> bool:
    """Whether an endpoint subscribed to ``patterns`` gets events of ``event_type``."""
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def _clean(data: dict) -> dict:
    cleaned = {}
    if "url" in data:
        url = data["url"]
        if not isinstance(url, str) or not url or len(url) > 2000:
            raise InvalidInput("Give the URL, at most 2000 characters.", attr="url")
        transport.resolve(url)  # the SSRF guard: a clear 400 now, and again at each attempt
        cleaned["url"] = url
    if "types" in data:
        cleaned["types"] = types_clean(data["types"])
    if "description" in data:
        description = data["description"] or ""
        if len(description) > DESCRIPTION_MAX:
            raise InvalidInput(f"At most {DESCRIPTION_MAX} characters.", attr="description")
        cleaned["description"] = description
    if "is_active" in data:
        cleaned["is_active"] = bool(data["is_active"])
    return cleaned


def webhook_endpoint_create(*, data: dict, actor: Any = None) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (the only time it is shown, with ``rotate_secret``)."""
    if "url" not in data or "types" not in data:
        missing = "url" if "url" not in data else "types"
        raise InvalidInput("This field is required.", code="required", attr=missing)
    cleaned = _clean(data)
    secret = new_secret()
    now = timezone.now()
    endpoint = WebhookEndpoint.objects.create(
        **cleaned,
        secret=secret,
        created_by=actor if getattr(actor, "pk", None) else None,
        created_at=now,
        updated_at=now,
    )
    return endpoint, secret


def webhook_endpoint_update(*, endpoint: WebhookEndpoint, data: dict) -> WebhookEndpoint:
    """Change an endpoint; turning it on again clears why it was disabled."""
    cleaned = _clean(data)
    for name, value in cleaned.items():
        setattr(endpoint, name, value)
    if cleaned.get("is_active"):
        endpoint.disabled_at = None
        endpoint.disabled_reason = ""
        endpoint.failing_since = None
    endpoint.updated_at = timezone.now()
    endpoint.save()
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Delete an endpoint with its deliveries and their log."""
    endpoint.delete()


def webhook_endpoint_rotate_secret(
    *, endpoint: WebhookEndpoint, now: datetime | None = None
) -> str:
    """A new secret; the old one stays valid (requests carry both signatures) for 24 h."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        secret = new_secret()
        locked.previous_secret = locked.secret
        locked.previous_secret_expires_at = now + PREVIOUS_SECRET_VALID
        locked.secret = secret
        locked.updated_at = now
        locked.save()
    endpoint.refresh_from_db()
    return secret


def signing_secrets(endpoint: WebhookEndpoint, *, now: datetime) -> list[str]:
    """The secrets a request is signed with: the current one, and the previous one during the
    24 hours after a rotation."""
    found = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires and expires > now:
        found.append(endpoint.previous_secret)
    return found


def sign_headers(
    *, endpoint: WebhookEndpoint, message_id: str, body: str, now: datetime, sent_at: datetime
) -> dict[str, str]:
    """Standard Webhooks headers: one ``v1,`` signature per valid secret, space-separated.
    ``sent_at`` is the wall clock: receivers check it against theirs."""
    signatures = [
        Webhook(secret).sign(msg_id=message_id, timestamp=sent_at, data=body)
        for secret in signing_secrets(endpoint, now=now)
    ]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


# --- fan-out --------------------------------------------------------------------------------


def webhooks_fan_out(*, batch_size: int = FAN_OUT_BATCH, now: datetime | None = None) -> int:
    """Turn the events the feed serves after the stored position into delivery rows, one per
    matching active endpoint created before the event, batch by batch: each batch's rows and
    the new position in one transaction. Returns how many deliveries were created."""
    created = 0
    while True:
        with transaction.atomic():
            cursor, _ = WebhookCursor.objects.get_or_create(pk=1)
            cursor = WebhookCursor.objects.select_for_update().get(pk=1)
            events = event_feed()
            if cursor.event_id is not None:
                events = events_after(events, (cursor.txid, cursor.event_id))
            batch = list(
                events.values_list("txid", "id", "type", "customer_id", "occurred_at")[:batch_size]
            )
            if not batch:
                return created
            endpoints = list(
                WebhookEndpoint.objects.filter(is_active=True).values_list(
                    "id", "types", "created_at"
                )
            )
            rows = [
                WebhookDelivery(
                    endpoint_id=endpoint_id,
                    event_id=event_id,
                    event_type=event_type,
                    event_txid=txid,
                    customer_id=customer_id,
                    next_attempt_at=now or timezone.now(),
                )
                for txid, event_id, event_type, customer_id, occurred_at in batch
                for endpoint_id, types, created_at in endpoints
                if occurred_at >= created_at and types_match(types, event_type)
            ]
            WebhookDelivery.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
            created += len(rows)
            cursor.txid, cursor.event_id = batch[-1][0], batch[-1][1]
            cursor.save(update_fields=["txid", "event_id"])
        if len(batch) < batch_size:
            return created


# --- waking and sending ---------------------------------------------------------------------


def _earlier_pending() -> Exists:
    """A pending delivery of the same endpoint and customer, earlier in the feed: while one
    exists, this one waits (per-customer order)."""
    return Exists(
        WebhookDelivery.objects.pending()
        .filter(
            endpoint_id=OuterRef("endpoint_id"),
            customer_id=OuterRef("customer_id"),
        )
        .filter(
            Q(event_txid__lt=OuterRef("event_txid"))
            | Q(event_txid=OuterRef("event_txid"), event_id__lt=OuterRef("event_id"))
        )
    )


def deliveries_sendable(*, now: datetime) -> QuerySet:
    """Pending deliveries that may be sent now: due, their endpoint active, no worker holding
    them, none earlier for the same customer still pending."""
    return (
        WebhookDelivery.objects.pending()
        .filter(next_attempt_at__lte=now, endpoint__is_active=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .filter(~_earlier_pending())
    )


def webhooks_wake(*, now: datetime | None = None, limit: int = WAKE_BATCH) -> list[str]:
    """The sweeper: sendable deliveries not woken recently, marked woken (a lease of
    ``WEBHOOK_WAKE_LEASE_SECONDS``); the caller enqueues a send for each. A message lost on
    the way (a queue flushed, a worker killed) is woken again when the lease runs out. The
    caller gives as ``limit`` the room left in the queue, so a queue behind on its work (whose
    wake-ups outlive their lease) is not flooded with the same deliveries again."""
    now = now or timezone.now()
    lease = now + timedelta(seconds=settings.WEBHOOK_WAKE_LEASE_SECONDS)
    with transaction.atomic():
        ids = list(
            deliveries_sendable(now=now)
            .filter(Q(wake_after__isnull=True) | Q(wake_after__lte=now))
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[:limit]
        )
        WebhookDelivery.objects.filter(pk__in=ids).update(wake_after=lease)
    return ids


def webhooks_chain_turn(*, token: str, now: datetime | None = None) -> str | None:
    """Whether the dispatch run holding ``token`` schedules the next one (the new token) or
    stops (None). One chain at a time: the run holding the stored token goes on; a run from
    the periodic schedule (no token) starts a chain only when the stored one is overdue. With
    no active endpoint the chain stops (the schedule, or a new endpoint, starts it again)."""
    now = now or timezone.now()
    every = timedelta(seconds=settings.WEBHOOK_DISPATCH_SECONDS)
    grace = max(timedelta(minutes=2), every * 10)
    with transaction.atomic():
        WebhookCursor.objects.get_or_create(pk=1)
        cursor = WebhookCursor.objects.select_for_update().get(pk=1)
        if not WebhookEndpoint.objects.filter(is_active=True).exists():
            cursor.next_dispatch_at = None  # nothing to send: the chain stops
            cursor.save(update_fields=["next_dispatch_at"])
            return None
        ours = bool(token) and token == cursor.chain_token
        overdue = cursor.next_dispatch_at is None or cursor.next_dispatch_at < now - grace
        if not (ours or overdue):
            return None
        cursor.chain_token = new_ulid()
        cursor.next_dispatch_at = now + every
        cursor.save(update_fields=["chain_token", "next_dispatch_at"])
        return cursor.chain_token


@dataclass
class SendResult:
    """What one send did: the delivery's state after it (None: not sent, e.g. not due or held
    by another worker) and the deliveries it unblocked (to wake now)."""

    state: str | None
    wake: list[str] = field(default_factory=list)


def webhook_delivery_claim(*, delivery_id: str, now: datetime) -> WebhookDelivery | None:
    """Hold a sendable delivery for this worker (None if it is not sendable now)."""
    timeout = timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS)
    with transaction.atomic():
        delivery = (
            deliveries_sendable(now=now)
            .select_for_update(of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            return None
        delivery.claimed_until = now + timeout * 2 + CLAIM_MARGIN
        delivery.save(update_fields=["claimed_until"])
    return delivery


def retry_delay(attempts: int, *, retry_after: int | None = None) -> timedelta | None:
    """The wait after the ``attempts``-th failed attempt (None: no attempt left). A
    ``Retry-After`` (429/503) replaces the schedule's wait, up to 24 h."""
    if attempts > len(RETRY_SCHEDULE):
        return None
    if retry_after is not None:
        return min(timedelta(seconds=retry_after), RETRY_AFTER_MAX)
    wait = RETRY_SCHEDULE[attempts - 1] * settings.WEBHOOK_RETRY_SCALE
    return wait * random.uniform(1 - JITTER, 1 + JITTER)


def _next_in_order(delivery: WebhookDelivery) -> list[str]:
    """The next pending delivery for the same endpoint and customer, now unblocked."""
    if delivery.customer_id is None:
        return []
    following = (
        WebhookDelivery.objects.pending()
        .filter(endpoint_id=delivery.endpoint_id, customer_id=delivery.customer_id)
        .order_by("event_txid", "event_id")
        .values_list("id", flat=True)
        .first()
    )
    return [following] if following else []


def webhook_delivery_record(
    *, delivery: WebhookDelivery, outcome: transport.Outcome, now: datetime
) -> SendResult:
    """Log one attempt and move the delivery on: delivered, retried later, or failed; a 410
    disables the endpoint, and so do ``WEBHOOK_DISABLE_AFTER_DAYS`` without a success."""
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            attempted_at=now,
            status=outcome.status,
            duration_ms=outcome.duration_ms,
            response_excerpt=outcome.excerpt[:1000],
            error=outcome.error[:500],
            succeeded=outcome.succeeded,
        )
        delivery.attempts += 1
        delivery.last_status = outcome.status
        delivery.last_error = outcome.error[:500]
        delivery.claimed_until = None
        delivery.wake_after = None
        endpoints = WebhookEndpoint.objects.filter(pk=delivery.endpoint_id)
        if outcome.succeeded:
            delivery.state = DeliveryState.SUCCEEDED
            delivery.delivered_at = now
            endpoints.exclude(failing_since=None).update(failing_since=None)
        else:
            endpoints.filter(failing_since=None).update(failing_since=now)
            if outcome.status == 410:
                delivery.state = DeliveryState.FAILED
                endpoint_disable(
                    endpoint_id=delivery.endpoint_id,
                    reason="The endpoint answered 410 Gone.",
                    now=now,
                )
            else:
                retry_after = outcome.retry_after if outcome.status in {429, 503} else None
                wait = retry_delay(delivery.attempts, retry_after=retry_after)
                if wait is None:
                    delivery.state = DeliveryState.FAILED
                else:
                    delivery.next_attempt_at = now + wait
            failing_for = timedelta(days=settings.WEBHOOK_DISABLE_AFTER_DAYS)
            if endpoints.filter(is_active=True, failing_since__lte=now - failing_for).exists():
                endpoint_disable(
                    endpoint_id=delivery.endpoint_id,
                    reason=f"No delivery succeeded for {settings.WEBHOOK_DISABLE_AFTER_DAYS} days.",
                    now=now,
                )
        delivery.save()
        wake = _next_in_order(delivery) if delivery.state != DeliveryState.PENDING else []
    return SendResult(state=delivery.state, wake=wake)


def endpoint_disable(*, endpoint_id: str, reason: str, now: datetime) -> None:
    """Stop sending to an endpoint; the admin shows why. Its pending deliveries wait for it to
    be turned on again."""
    WebhookEndpoint.objects.filter(pk=endpoint_id, is_active=True).update(
        is_active=False, disabled_at=now, disabled_reason=reason, updated_at=now
    )


def body_json(body: dict) -> str:
    """The body as sent (and signed): compact JSON."""
    return json.dumps(body, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)


def webhook_deliver(
    *,
    delivery_id: str,
    render: Callable[[WebhookDelivery, Event | None], dict | None],
    now: datetime | None = None,
    send: Callable[..., transport.Outcome] = transport.post,
) -> SendResult:
    """Send one delivery if it is sendable now, and record the attempt.

    ``render`` makes the body from the delivery and its event (the API's rendering of the
    event; None if the event is gone); ``now`` is the schedule's clock (tests move it), while
    the signature's timestamp is always the wall clock."""
    now = now or timezone.now()
    delivery = webhook_delivery_claim(delivery_id=delivery_id, now=now)
    if delivery is None:
        return SendResult(state=None)
    event = None
    if delivery.payload is None:
        event = Event.objects.filter(pk=delivery.event_id).first()
    body = render(delivery, event)
    if body is None:
        outcome = transport.Outcome(
            status=None, duration_ms=0, error="The event is no longer in the event log."
        )
        delivery.attempts = len(RETRY_SCHEDULE)  # nothing to retry
        return webhook_delivery_record(delivery=delivery, outcome=outcome, now=now)
    text = body_json(body)
    headers = sign_headers(
        endpoint=delivery.endpoint,
        message_id=delivery.event_id,
        body=text,
        now=now,
        sent_at=datetime.now(UTC),
    )
    outcome = send(
        url=delivery.endpoint.url,
        body=text.encode(),
        headers=headers,
        timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
    )
    return webhook_delivery_record(delivery=delivery, outcome=outcome, now=now)


# --- replays and test events ----------------------------------------------------------------


def webhook_delivery_replay(*, delivery: WebhookDelivery, now: datetime | None = None) -> None:
    """Send a delivery again (whatever its state) with a fresh retry schedule."""
    now = now or timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        state=DeliveryState.PENDING,
        attempts=0,
        next_attempt_at=now,
        wake_after=None,
        claimed_until=None,
    )
    delivery.refresh_from_db()


def webhook_deliveries_replay_failed(
    *, endpoint: WebhookEndpoint, since: datetime, now: datetime | None = None
) -> int:
    """Send again every failed delivery of ``endpoint`` created since ``since``."""
    now = now or timezone.now()
    return WebhookDelivery.objects.filter(
        endpoint=endpoint, state=DeliveryState.FAILED, created_at__gte=since
    ).update(
        state=DeliveryState.PENDING,
        attempts=0,
        next_attempt_at=now,
        wake_after=None,
        claimed_until=None,
    )


def webhook_endpoint_send_test(
    *, endpoint: WebhookEndpoint, now: datetime | None = None
) -> WebhookDelivery:
    """A ``webhook.test`` delivery to ``endpoint``, signed and logged like any other."""
    if not endpoint.is_active:
        raise InvalidInput("The endpoint is disabled: turn it on to send it a test event.")
    now = now or timezone.now()
    event_id = new_ulid()
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id=event_id,
        event_type=TEST_EVENT_TYPE,
        payload={
            "id": event_id,
            "type": TEST_EVENT_TYPE,
            "occurred_at": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "data": {"message": "A test event sent from Tagdesk."},
        },
        next_attempt_at=now,
    )
