"""Webhook writes: endpoints and their secrets, the fan-out of events into deliveries, sending
them in batches (claim, render, sign, POST, record), the retry schedule, replays and test
events.

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
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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
BODY_MAX_BYTES = 20 * 1024
# Connections one batch opens to one endpoint at most (the rest of its threads serve others).
LANES_PER_ENDPOINT = 4
MAX_TYPES = 50
TYPE_PATTERN_MAX = 64
DESCRIPTION_MAX = 500
# The time a worker holds a delivery it sends, beyond the request's timeouts (clock skew
# between workers, a slow commit).
CLAIM_MARGIN = timedelta(seconds=10)
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


def webhooks_senders_wanted(*, limit: int, now: datetime | None = None) -> int:
    """How many send jobs the sendable deliveries call for (one per ``WEBHOOK_BATCH_SIZE``), at
    most ``limit``. The dispatch enqueues that many, less those already waiting: a job carries
    no delivery, it only wakes a worker, which claims what is due when it runs."""
    now = now or timezone.now()
    batch = settings.WEBHOOK_BATCH_SIZE
    due = len(deliveries_sendable(now=now).values_list("id", flat=True)[: limit * batch])
    return -(-due // batch)


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
    by another worker)."""

    state: str | None


@dataclass
class Claim:
    """Deliveries held by one worker: the token their rows carry, and the moment (monotonic)
    after which none of them is started any more (they are released unsent)."""

    token: str
    deliveries: list[WebhookDelivery]
    start_by: float


# What sending and recording a delivery reads of it.
CLAIMED_FIELDS = ("id", "endpoint_id", "event_id", "event_type", "payload", "state", "attempts")


def claim_lease() -> timedelta:
    """How long a claim holds its deliveries: the time to start sending them, each request's
    connection and read timeouts, and a margin. A worker killed meanwhile leaves the claim,
    which runs out: those deliveries are sent again (at least once)."""
    timeout = timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS)
    return timeout * 3 + CLAIM_MARGIN


def webhook_deliveries_claim(*, now: datetime, limit: int, ids: list[str] | None = None) -> Claim:
    """Hold up to ``limit`` sendable deliveries (of ``ids``, if given) for this worker, the
    longest due first, in one short transaction. Rows another worker is claiming are skipped
    (PostgreSQL: SKIP LOCKED; SQLite writes one transaction at a time). Only the first pending
    delivery of an (endpoint, customer) is sendable, so a claim never holds two of them."""
    token = new_ulid()
    with transaction.atomic():
        sendable = deliveries_sendable(now=now)
        if ids is not None:
            sendable = sendable.filter(pk__in=ids)
        deliveries = list(
            sendable.select_for_update(skip_locked=True, of=("self",))
            .only(*CLAIMED_FIELDS)
            .order_by("next_attempt_at", "id")[:limit]
        )
        if deliveries:
            WebhookDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
                claimed_until=now + claim_lease(), claim_token=token
            )
    # Each endpoint once, not once per delivery.
    endpoints = WebhookEndpoint.objects.in_bulk({d.endpoint_id for d in deliveries})
    for delivery in deliveries:
        delivery.endpoint = endpoints[delivery.endpoint_id]
    start_by = time.monotonic() + settings.WEBHOOK_TIMEOUT_SECONDS
    return Claim(token=token, deliveries=deliveries, start_by=start_by)


def jitter() -> float:
    """A factor within ±``JITTER``: retries of different batches spread out (a batch's own
    deliveries, sent together, are retried together)."""
    return random.uniform(1 - JITTER, 1 + JITTER)


def retry_delay(
    attempts: int, *, retry_after: int | None = None, factor: float | None = None
) -> timedelta | None:
    """The wait after the ``attempts``-th failed attempt (None: no attempt left), times
    ``factor`` (a fresh ``jitter()`` if not given). A ``Retry-After`` (429/503) replaces the
    schedule's wait, up to 24 h."""
    if attempts > len(RETRY_SCHEDULE):
        return None
    if retry_after is not None:
        return min(timedelta(seconds=retry_after), RETRY_AFTER_MAX)
    wait = RETRY_SCHEDULE[attempts - 1] * settings.WEBHOOK_RETRY_SCALE
    return wait * (jitter() if factor is None else factor)


def body_json(body: dict) -> str:
    """The body as sent (and signed): compact JSON."""
    return json.dumps(body, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)


def body_text(delivery: WebhookDelivery, data: dict | None) -> str | None:
    """The request body ``{type, timestamp, data}``: ``data`` is the event as the feed renders
    it (a test event's stored payload), None if the event is gone from the log. Over 20 KB, the
    event's own ``data`` is left out (``data_truncated``: read it from the API)."""
    if delivery.payload is not None:
        data = delivery.payload
    elif data is None:
        return None
    body = {"type": delivery.event_type, "timestamp": data["occurred_at"], "data": data}
    text = body_json(body)
    if len(text.encode()) > BODY_MAX_BYTES:
        text = body_json({**body, "data": {**data, "data": None}, "data_truncated": True})
    return text


# What a batch sent: each delivery with its attempt's outcome, or None if it was not attempted
# (the batch's time to start sends ran out, or its endpoint stopped answering meanwhile).
Sent = list[tuple[WebhookDelivery, transport.Outcome | None]]
EVENT_GONE = "The event is no longer in the event log."


def webhook_deliveries_send(
    *, claim: Claim, render: Callable[[list[Event]], list[dict]], now: datetime
) -> Sent:
    """Render the claimed deliveries (one query for their events), sign and POST them: up to
    ``WEBHOOK_SEND_THREADS`` at once, at most ``LANES_PER_ENDPOINT`` to one endpoint, each
    lane over keep-alive connections. ``render`` gives the events as the API's feed shows
    them; ``now`` is the schedule's clock (the signature's timestamp is the wall clock)."""
    wanted = [d.event_id for d in claim.deliveries if d.payload is None]
    events = Event.objects.in_bulk(wanted) if wanted else {}
    rendered = dict(zip(events, render(list(events.values())), strict=True))
    sent: Sent = []
    by_endpoint: dict[str, list[tuple[WebhookDelivery, str]]] = {}
    for delivery in claim.deliveries:
        text = body_text(delivery, rendered.get(delivery.event_id))
        if text is None:
            delivery.attempts = len(RETRY_SCHEDULE)  # nothing to retry
            sent.append((delivery, transport.Outcome(status=None, duration_ms=0, error=EVENT_GONE)))
        else:
            by_endpoint.setdefault(delivery.endpoint_id, []).append((delivery, text))
    lanes = [
        items[i::count]
        for items in by_endpoint.values()
        for count in [min(LANES_PER_ENDPOINT, settings.WEBHOOK_SEND_THREADS, len(items))]
        for i in range(count)
    ]
    if len(lanes) == 1:
        sent.extend(_send_lane(lanes[0], start_by=claim.start_by, now=now))
    elif lanes:
        with ThreadPoolExecutor(max_workers=min(settings.WEBHOOK_SEND_THREADS, len(lanes))) as pool:
            futures = [
                pool.submit(_send_lane, lane, start_by=claim.start_by, now=now) for lane in lanes
            ]
            for future in futures:
                sent.extend(future.result())
    return sent


def _send_lane(items: list[tuple[WebhookDelivery, str]], *, start_by: float, now: datetime) -> Sent:
    """Send one lane's deliveries in turn over one keep-alive connection. After a timeout the
    endpoint is not asked again in this batch: the rest of the lane is released unsent."""
    sent: Sent = []
    stopped = False
    with transport.Sender(settings.WEBHOOK_TIMEOUT_SECONDS) as sender:
        for delivery, text in items:
            if stopped or time.monotonic() > start_by:
                sent.append((delivery, None))
                continue
            headers = sign_headers(
                endpoint=delivery.endpoint,
                message_id=delivery.event_id,
                body=text,
                now=now,
                sent_at=datetime.now(UTC),
            )
            outcome = sender.post(url=delivery.endpoint.url, body=text.encode(), headers=headers)
            sent.append((delivery, outcome))
            stopped = outcome.timed_out
    return sent


def _move_on(
    delivery: WebhookDelivery, outcome: transport.Outcome, *, now: datetime, factor: float
) -> dict[str, Any]:
    """The delivery's new values after an attempt: delivered, retried later (the schedule times
    ``factor``, or ``Retry-After`` on 429/503), or failed for good (410, no attempt left)."""
    attempts = delivery.attempts + 1
    changes = {
        "attempts": attempts,
        "last_status": outcome.status,
        "last_error": outcome.error[:500],
    }
    if outcome.succeeded:
        changes.update(state=DeliveryState.SUCCEEDED, delivered_at=now)
    elif outcome.status == 410:
        changes.update(state=DeliveryState.FAILED)
    else:
        retry_after = outcome.retry_after if outcome.status in {429, 503} else None
        wait = retry_delay(attempts, retry_after=retry_after, factor=factor)
        if wait is None:
            changes.update(state=DeliveryState.FAILED)
        else:
            changes.update(next_attempt_at=now + wait)
    return changes


def webhook_deliveries_record(*, claim: Claim, sent: Sent, now: datetime) -> dict[str, str]:
    """Log the batch's attempts and move its deliveries on, in one transaction; release those
    not attempted. A delivery whose claim ran out and was taken by another worker meanwhile
    gets its attempt logged but is left to that worker. Per endpoint: a success clears its
    failing clock, a failure starts it; a 410 disables it, and so do
    ``WEBHOOK_DISABLE_AFTER_DAYS`` without a success. Returns the new state by delivery id."""
    states: dict[str, str] = {}
    with transaction.atomic():
        ours = set(
            WebhookDelivery.objects.select_for_update()
            .filter(pk__in=[delivery.pk for delivery, _ in sent], claim_token=claim.token)
            .values_list("id", flat=True)
        )
        attempts, released = [], []
        moved: dict[tuple, list[str]] = {}  # new values → the ids of the rows that get them
        succeeded, failed, gone = set(), set(), set()
        factor = jitter()
        for delivery, outcome in sent:
            if outcome is None:
                if delivery.pk in ours:
                    released.append(delivery.pk)
                continue
            attempts.append(
                WebhookAttempt(
                    delivery=delivery,
                    attempted_at=now,
                    status=outcome.status,
                    duration_ms=outcome.duration_ms,
                    response_excerpt=outcome.excerpt[:1000],
                    error=outcome.error[:500],
                    succeeded=outcome.succeeded,
                )
            )
            (succeeded if outcome.succeeded else failed).add(delivery.endpoint_id)
            if outcome.status == 410:
                gone.add(delivery.endpoint_id)
            if delivery.pk in ours:
                changes = _move_on(delivery, outcome, now=now, factor=factor)
                moved.setdefault(tuple(changes.items()), []).append(delivery.pk)
                states[delivery.pk] = changes.get("state", delivery.state)
        WebhookAttempt.objects.bulk_create(attempts)
        # One UPDATE per set of new values: a batch's deliveries mostly share theirs.
        for changes, ids in moved.items():
            WebhookDelivery.objects.filter(pk__in=ids).update(
                **dict(changes), claimed_until=None, claim_token=""
            )
        if released:
            WebhookDelivery.objects.filter(pk__in=released).update(
                claimed_until=None, claim_token=""
            )
        endpoints = WebhookEndpoint.objects
        endpoints.filter(pk__in=succeeded).exclude(failing_since=None).update(failing_since=None)
        endpoints.filter(pk__in=failed - succeeded, failing_since=None).update(failing_since=now)
        for endpoint_id in gone:
            endpoint_disable(
                endpoint_id=endpoint_id, reason="The endpoint answered 410 Gone.", now=now
            )
        days = settings.WEBHOOK_DISABLE_AFTER_DAYS
        stale = endpoints.filter(
            pk__in=failed - succeeded,
            is_active=True,
            failing_since__lte=now - timedelta(days=days),
        ).values_list("id", flat=True)
        for endpoint_id in stale:
            endpoint_disable(
                endpoint_id=endpoint_id,
                reason=f"No delivery succeeded for {days} days.",
                now=now,
            )
    return states


def endpoint_disable(*, endpoint_id: str, reason: str, now: datetime) -> None:
    """Stop sending to an endpoint; the admin shows why. Its pending deliveries wait for it to
    be turned on again."""
    WebhookEndpoint.objects.filter(pk=endpoint_id, is_active=True).update(
        is_active=False, disabled_at=now, disabled_reason=reason, updated_at=now
    )


def webhook_deliver(
    *,
    delivery_id: str,
    render: Callable[[list[Event]], list[dict]],
    now: datetime | None = None,
) -> SendResult:
    """Send one delivery if it is sendable now, and record the attempt (a retry from the API;
    the tests): the batch's claim, send and record, for one."""
    now = now or timezone.now()
    claim = webhook_deliveries_claim(now=now, limit=1, ids=[delivery_id])
    if not claim.deliveries:
        return SendResult(state=None)
    sent = webhook_deliveries_send(claim=claim, render=render, now=now)
    states = webhook_deliveries_record(claim=claim, sent=sent, now=now)
    return SendResult(state=states.get(delivery_id))


def webhooks_send_due(
    *,
    render: Callable[[list[Event]], list[dict]],
    seconds: float,
    now: datetime | None = None,
) -> dict[str, int]:
    """A send job's work: claim a batch of due deliveries, send it, record it, and again, until
    none is left or ``seconds`` have passed (the worker then takes its next job; the dispatch
    wakes workers again while deliveries are due). Deliveries a batch unblocks (the next of a
    customer) are claimed by the next batch."""
    stop_at = time.monotonic() + seconds
    claimed = attempted = 0
    while True:
        at = now or timezone.now()
        claim = webhook_deliveries_claim(now=at, limit=settings.WEBHOOK_BATCH_SIZE)
        if not claim.deliveries:
            break
        sent = webhook_deliveries_send(claim=claim, render=render, now=at)
        webhook_deliveries_record(claim=claim, sent=sent, now=at)
        claimed += len(claim.deliveries)
        attempted += sum(outcome is not None for _, outcome in sent)
        if time.monotonic() >= stop_at:
            break
    return {"claimed": claimed, "attempted": attempted}


# --- replays and test events ----------------------------------------------------------------


def webhook_delivery_replay(*, delivery: WebhookDelivery, now: datetime | None = None) -> None:
    """Send a delivery again (whatever its state) with a fresh retry schedule."""
    now = now or timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        state=DeliveryState.PENDING,
        attempts=0,
        next_attempt_at=now,
        claimed_until=None,
        claim_token="",
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
        claimed_until=None,
        claim_token="",
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
