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
import functools
import json
import os
import random
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from config.databases import per_database, stored_ids_in
from config.events.models import EVENT_TYPES
from config.events.selectors import event_feed, events_after
from config.exceptions import InvalidInput
from config.fields import new_ulid, ulid_to_uuid, uuid_from_db, uuid_to_ulid
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


@functools.lru_cache(maxsize=256)
def _signer(secret: str) -> Webhook:
    """The signer of a secret, made once (it decodes the secret)."""
    return Webhook(secret)


def sign_headers(
    *, endpoint: WebhookEndpoint, message_id: str, body: str, now: datetime, sent_at: datetime
) -> dict[str, str]:
    """Standard Webhooks headers: one ``v1,`` signature per valid secret, space-separated.
    ``sent_at`` is the wall clock: receivers check it against theirs."""
    signatures = [
        _signer(secret).sign(msg_id=message_id, timestamp=sent_at, data=body)
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


@dataclass(slots=True)
class Claimed:
    """A claimed delivery: what sending and recording it read of its row (plain values, not a
    model instance: a worker handles thousands a second), its id as the column holds it (for
    the record's SQL), and its endpoint."""

    id: str
    stored_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    payload: dict | None
    state: str
    attempts: int
    endpoint: WebhookEndpoint | None = None


@dataclass
class Claim:
    """Deliveries held by one worker: the token their rows carry, and the moment (monotonic)
    after which none of them is started any more (they are released unsent)."""

    token: str
    deliveries: list[Claimed]
    start_by: float


# A statement of the record: its SQL, its parameters, and whether it returns the ids (text)
# of the deliveries it moved.
Statement = tuple[str, list, bool]


class _PostgresSql:
    """The claim's and the record's raw SQL on PostgreSQL: the attempts as one JSON
    parameter, the record as one statement (lists of ids: ``stored_ids_in``)."""

    # The claim's rows by their ids, through the primary key (as `IN (SELECT …)` PostgreSQL
    # may hash the picked ids and read the whole table, which keeps every delivery made).
    PICKED = "= ANY(ARRAY(SELECT id FROM picked))"

    def claim_quickly(self, cursor: Any) -> None:
        """The claim's commit does not wait for its WAL to reach the disk: a claim lost in a
        server crash frees its deliveries to be claimed again, which is what a claim that ran
        out does (at least once). The record's transaction stays synchronous."""
        cursor.execute("SET LOCAL synchronous_commit TO OFF")

    def run_together(self, statements: list[Statement]) -> list[set[str]]:
        """The statements as one (each a data-modifying WITH query: one round trip); the ids
        each returned."""
        if not statements:
            return []
        parts, selects, params = [], [], []
        for i, (sql, values, returns) in enumerate(statements):
            parts.append(f"s{i} AS ({sql})")
            params += values
            if returns:
                selects.append(f"SELECT {i}, id FROM s{i}")
        final = " UNION ALL ".join(selects) or "SELECT NULL, NULL"
        results: list[set[str]] = [set() for _ in statements]
        with connection.cursor() as cursor:
            cursor.execute(f"WITH {', '.join(parts)} {final}", params)
            for i, stored_id in cursor.fetchall():
                if i is not None:
                    results[i].add(stored_id)
        return results

    def attempts_select(self, rows: list[tuple]) -> tuple[str, list]:
        """A SELECT of attempt rows (``ATTEMPT_COLUMNS``, the first a parameter of its own
        given by the caller): the rows as one JSON array (the driver's array parameters cost
        a regular expression per element)."""
        types = ("uuid", "uuid", "integer", "integer", "text", "text", "boolean")
        values = ", ".join(f"(r->>{i})::{type}" for i, type in enumerate(types))
        return f"SELECT %s, {values} FROM json_array_elements(%s::json) r", [json.dumps(rows)]


class _SqliteSql:
    """The same on SQLite: the attempts as one JSON array read by ``json_each``, the record's
    statements in turn."""

    PICKED = "IN (SELECT id FROM picked)"

    def claim_quickly(self, cursor: Any) -> None:
        pass

    def stored_text(self, value: uuid.UUID) -> str:
        return value.hex

    def run_together(self, statements: list[Statement]) -> list[set[str]]:
        """The statements in turn (SQLite has no UPDATE inside WITH); the ids each returned."""
        results = []
        with connection.cursor() as cursor:
            for sql, params, returns in statements:
                cursor.execute(sql, params)
                results.append({row[0] for row in cursor.fetchall()} if returns else set())
        return results

    def attempts_select(self, rows: list[tuple]) -> tuple[str, list]:
        values = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(rows[0])))
        return f"SELECT %s, {values} FROM json_each(%s)", [json.dumps(rows)]


_sql = per_database({"postgresql": _PostgresSql, "sqlite": _SqliteSql})


def _column(model: type, name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


def _prep(model: type, name: str, value: Any) -> Any:
    return model._meta.get_field(name).get_db_prep_save(value, connection)


# What the claim returns of a row after its id (text): what sending and recording read
# (``Claimed``'s fields), and the due time (the claim's order).
CLAIMED_FIELDS = (
    "endpoint",
    "event_id",
    "event_type",
    "payload",
    "state",
    "attempts",
    "next_attempt_at",
)


def claim_lease() -> timedelta:
    """How long a claim holds its deliveries: the time to start sending them, each request's
    connection and read timeouts, and a margin. A worker killed meanwhile leaves the claim,
    which runs out: those deliveries are sent again (at least once)."""
    timeout = timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS)
    return timeout * 3 + CLAIM_MARGIN


# A stand-in for the clock while the sendable query is compiled (see ``_sendable_sql``).
_CLOCK = datetime(2000, 1, 1, tzinfo=UTC)
_sendable_compiled: dict[tuple[str, int], tuple[str, list]] = {}


def _sendable_sql(*, now: datetime, limit: int, ids: list[str] | None) -> tuple[str, list]:
    """The SELECT picking the claim's rows (``deliveries_sendable``, locked, in due order, up
    to ``limit``) and its parameters. Without ``ids`` (a worker's batches) it is compiled once
    per database and batch size with a stand-in clock, whose parameters are then swapped for
    ``now``: compiling it took longer than running it."""
    if ids is not None:
        return _sendable_query(now, limit, ids).query.sql_with_params()
    key = (connection.vendor, limit)
    if key not in _sendable_compiled:
        sql, params = _sendable_query(_CLOCK, limit).query.sql_with_params()
        _sendable_compiled[key] = (
            sql,
            [_CLOCK if p == _clock_param(_CLOCK) else p for p in params],
        )
    sql, params = _sendable_compiled[key]
    at = _clock_param(now)
    return sql, [at if p is _CLOCK else p for p in params]


def _sendable_query(now: datetime, limit: int, ids: list[str] | None = None) -> QuerySet:
    sendable = deliveries_sendable(now=now)
    if ids is not None:
        sendable = sendable.filter(pk__in=ids)
    return (
        sendable.select_for_update(skip_locked=True, of=("self",))
        .order_by("next_attempt_at", "id")
        .values("id")[:limit]
    )


def _clock_param(value: datetime) -> Any:
    return WebhookDelivery._meta.get_field("next_attempt_at").get_db_prep_value(value, connection)


def webhook_deliveries_claim(*, now: datetime, limit: int, ids: list[str] | None = None) -> Claim:
    """Hold up to ``limit`` sendable deliveries (of ``ids``, if given) for this worker, the
    longest due first, in one statement: an UPDATE of the rows the sendable query picks
    (PostgreSQL: locked with SKIP LOCKED, so rows another worker is claiming are passed over;
    SQLite writes one transaction at a time) returning what sending needs. Only the first
    pending delivery of an (endpoint, customer) is sendable, so a claim never holds two of
    them."""
    token = new_ulid()
    with transaction.atomic():
        picked, params = _sendable_sql(now=now, limit=limit, ids=ids)
        table = connection.ops.quote_name(WebhookDelivery._meta.db_table)
        returned = ", ".join(_column(WebhookDelivery, name) for name in CLAIMED_FIELDS)
        with connection.cursor() as cursor:
            _sql().claim_quickly(cursor)
            # The pick is a MATERIALIZED CTE, run once: as `WHERE id IN (SELECT … LIMIT n FOR
            # UPDATE SKIP LOCKED)` PostgreSQL may run the sub-SELECT more than once and claim
            # more than `limit` rows (seen in the suite).
            cursor.execute(
                f"WITH picked AS MATERIALIZED ({picked}) "
                f"UPDATE {table} SET {_column(WebhookDelivery, 'claimed_until')} = %s, "
                f"{_column(WebhookDelivery, 'claim_token')} = %s "
                f"WHERE id {_sql().PICKED} "
                f"RETURNING CAST(id AS text), {returned}",
                [
                    *params,
                    _prep(WebhookDelivery, "claimed_until", now + claim_lease()),
                    token,
                ],
            )
            rows = cursor.fetchall()
    rows.sort(key=lambda row: (row[-1], row[0]))  # the longest due first, as picked
    endpoint_ids = {row[1]: uuid_to_ulid(uuid_from_db(row[1])) for row in rows}
    endpoints = WebhookEndpoint.objects.in_bulk(endpoint_ids.values()) if rows else {}
    deliveries = []
    for stored_id, endpoint_id, event_id, event_type, payload, state, attempts, _ in rows:
        endpoint = endpoints[endpoint_ids[endpoint_id]]
        deliveries.append(
            Claimed(
                id=uuid_to_ulid(uuid_from_db(stored_id)),
                stored_id=stored_id,
                endpoint_id=endpoint.id,
                event_id=uuid_to_ulid(uuid_from_db(event_id)),
                event_type=event_type,
                payload=None if payload is None else json.loads(payload),
                state=state,
                attempts=attempts,
                endpoint=endpoint,
            )
        )
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
        # capped before timedelta, which overflows past 999999999 days
        return timedelta(seconds=min(retry_after, RETRY_AFTER_MAX.total_seconds()))
    wait = RETRY_SCHEDULE[attempts - 1] * settings.WEBHOOK_RETRY_SCALE
    return wait * (jitter() if factor is None else factor)


def body_json(body: dict) -> str:
    """The body as sent (and signed): compact JSON."""
    return json.dumps(body, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)


def body_text(delivery: "Claimed | WebhookDelivery", data: dict | None) -> str | None:
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
Sent = list[tuple[Claimed, transport.Outcome | None]]
Render = Callable[[list[str]], dict[str, dict]]
Lane = list[tuple[Claimed, str]]
EVENT_GONE = "The event is no longer in the event log."


def _bodies(claim: Claim, render: Render) -> tuple[Sent, list[Lane]]:
    """A claim's bodies, each event rendered once (one query for the batch's events), cut
    into lanes: at most ``LANES_PER_ENDPOINT`` per endpoint, their deliveries in claim order.
    Deliveries whose event is gone from the log come back at once, as failed for good."""
    wanted = list(dict.fromkeys(d.event_id for d in claim.deliveries if d.payload is None))
    rendered = render(wanted) if wanted else {}
    texts: dict[str, str | None] = {}
    gone: Sent = []
    by_endpoint: dict[str, Lane] = {}
    for delivery in claim.deliveries:
        if delivery.payload is not None:
            text = body_text(delivery, None)
        elif delivery.event_id in texts:
            text = texts[delivery.event_id]
        else:
            text = texts[delivery.event_id] = body_text(delivery, rendered.get(delivery.event_id))
        if text is None:
            delivery.attempts = len(RETRY_SCHEDULE)  # nothing to retry
            gone.append((delivery, transport.Outcome(status=None, duration_ms=0, error=EVENT_GONE)))
        else:
            by_endpoint.setdefault(delivery.endpoint_id, []).append((delivery, text))
    lanes = [
        items[i::count]
        for items in by_endpoint.values()
        for count in [min(LANES_PER_ENDPOINT, settings.WEBHOOK_SEND_THREADS, len(items))]
        for i in range(count)
    ]
    return gone, lanes


class _Senders:
    """Senders kept from batch to batch of a send job, so their connections stay alive: a lane
    takes an idle one (or a new one) and gives it back. Each lane has every URL resolved and
    checked again (``Sender.recheck``): a connection is reused only to the address checked."""

    def __init__(self) -> None:
        self._idle: list[transport.Sender] = []

    @contextmanager
    def one(self) -> Iterator[transport.Sender]:
        try:
            sender = self._idle.pop()
        except IndexError:
            sender = transport.Sender(settings.WEBHOOK_TIMEOUT_SECONDS)
        sender.recheck()
        try:
            yield sender
        finally:
            self._idle.append(sender)

    def close(self) -> None:
        for sender in self._idle:
            sender.close()
        self._idle.clear()


class _InFlight:
    """A batch whose POSTs run on a pool's threads (no database there: the caller's thread
    keeps the connection, and claims or records meanwhile)."""

    def __init__(
        self,
        claim: Claim,
        render: Render,
        *,
        now: datetime,
        pool: ThreadPoolExecutor,
        senders: _Senders,
    ) -> None:
        self.claim = claim
        self.now = now
        self.gone, self.lanes = _bodies(claim, render)
        self.pool = pool
        self.senders = senders
        self.futures: list[Future] = []

    def start(self) -> "_InFlight":
        self.futures = [
            self.pool.submit(_send_lane, lane, self.claim.start_by, self.now, self.senders)
            for lane in self.lanes
        ]
        return self

    def sent(self) -> Sent:
        """Every delivery of the claim with its outcome, once the POSTs are done."""
        sent = list(self.gone)
        for future in self.futures:
            sent.extend(future.result())
        return sent


def webhook_deliveries_send(*, claim: Claim, render: Render, now: datetime) -> Sent:
    """Render the claimed deliveries, sign and POST them: up to ``WEBHOOK_SEND_THREADS`` at
    once, at most ``LANES_PER_ENDPOINT`` to one endpoint, each lane over keep-alive
    connections. ``render`` gives the events of some ids as the API's feed shows them, by id;
    ``now`` is the schedule's clock (the signature's timestamp is the wall clock)."""
    gone, lanes = _bodies(claim, render)
    start_by = claim.start_by
    senders = _Senders()
    try:
        if len(lanes) <= 1:
            return gone + [s for lane in lanes for s in _send_lane(lane, start_by, now, senders)]
        threads = min(settings.WEBHOOK_SEND_THREADS, len(lanes))
        with ThreadPoolExecutor(max_workers=threads) as pool:
            futures = [pool.submit(_send_lane, lane, start_by, now, senders) for lane in lanes]
            return gone + [sent for future in futures for sent in future.result()]
    finally:
        senders.close()


def _send_lane(items: Lane, start_by: float, now: datetime, senders: _Senders) -> Sent:
    """Send one lane's deliveries in turn over one keep-alive connection. After a timeout the
    endpoint is not asked again in this batch: the rest of the lane is released unsent."""
    sent: Sent = []
    stopped = False
    with senders.one() as sender:
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
    delivery: Claimed, outcome: transport.Outcome, *, now: datetime, factor: float
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


def _attempts_insert(rows: list[tuple], *, attempted_at: datetime) -> Statement:
    """Insert a batch's attempts in one statement: ``rows`` are (id, delivery's stored id,
    status, duration, excerpt, error, succeeded), ids as the columns hold them, text."""
    columns = ", ".join(_column(WebhookAttempt, name) for name in ATTEMPT_COLUMNS)
    table = connection.ops.quote_name(WebhookAttempt._meta.db_table)
    select, params = _sql().attempts_select(rows)
    attempted_at = _prep(WebhookAttempt, "attempted_at", attempted_at)
    return f"INSERT INTO {table} ({columns}) {select}", [attempted_at, *params], False


def _new_stored_ids(count: int) -> list[str]:
    """New ULIDs as 32 hex digits (how SQLite stores them; PostgreSQL reads them as uuid),
    made without python-ulid's objects: 48 bits of milliseconds, 80 random bits."""
    at = (time.time_ns() // 1_000_000) << 80
    noise = os.urandom(10 * count)
    return [f"{at | int.from_bytes(noise[i : i + 10]):032x}" for i in range(0, 10 * count, 10)]


# In the order of ``attempts_select``'s columns.
ATTEMPT_COLUMNS = (
    "attempted_at",
    "id",
    "delivery",
    "status",
    "duration_ms",
    "response_excerpt",
    "error",
    "succeeded",
)


def _deliveries_move(
    deliveries: list[Claimed], changes: dict[str, Any], *, token: str
) -> Statement:
    """Set ``changes`` on the deliveries still held by the claim ``token`` and release them,
    returning the ids of those it changed (the others were taken over by another worker)."""
    values = {**changes, "claimed_until": None, "claim_token": ""}
    assignments = ", ".join(f"{_column(WebhookDelivery, name)} = %s" for name in values)
    params = [_prep(WebhookDelivery, name, value) for name, value in values.items()]
    where, ids = stored_ids_in("id", [d.stored_id for d in deliveries])
    table = connection.ops.quote_name(WebhookDelivery._meta.db_table)
    sql = (
        f"UPDATE {table} SET {assignments} WHERE {where} "
        f"AND {_column(WebhookDelivery, 'claim_token')} = %s RETURNING CAST(id AS text) AS id"
    )
    return sql, [*params, *ids, token], True


def _endpoints_clock(endpoint_ids: set[str], failing_since: datetime | None) -> Statement:
    """Start the failing clock of the endpoints not failing yet (``failing_since`` given), or
    clear it (None)."""
    where, ids = stored_ids_in("id", [ulid_to_uuid(e).hex for e in endpoint_ids])
    column = _column(WebhookEndpoint, "failing_since")
    table = connection.ops.quote_name(WebhookEndpoint._meta.db_table)
    if failing_since is None:
        return (
            f"UPDATE {table} SET {column} = NULL WHERE {where} AND {column} IS NOT NULL",
            ids,
            False,
        )
    value = _prep(WebhookEndpoint, "failing_since", failing_since)
    return (
        f"UPDATE {table} SET {column} = %s WHERE {where} AND {column} IS NULL",
        [value, *ids],
        False,
    )


def webhook_deliveries_record(*, claim: Claim, sent: Sent, now: datetime) -> dict[str, str]:
    """Log the batch's attempts and move its deliveries on, in one transaction; release those
    not attempted. A delivery whose claim ran out and was taken by another worker meanwhile
    gets its attempt logged but is left to that worker. Per endpoint: a success clears its
    failing clock, a failure starts it; a 410 disables it, and so do
    ``WEBHOOK_DISABLE_AFTER_DAYS`` without a success. Returns the new state by delivery id."""
    states: dict[str, str] = {}
    attempts, released = [], []
    moved: dict[tuple, list[Claimed]] = {}  # new values → the deliveries that get them
    succeeded, failed, gone = set(), set(), set()
    factor = jitter()
    new_ids = iter(_new_stored_ids(len(sent)))
    for delivery, outcome in sent:
        if outcome is None:
            released.append(delivery)
            continue
        attempts.append(
            (
                next(new_ids),
                delivery.stored_id,
                outcome.status,
                outcome.duration_ms,
                outcome.excerpt[:1000],
                outcome.error[:500],
                outcome.succeeded,
            )
        )
        (succeeded if outcome.succeeded else failed).add(delivery.endpoint_id)
        if outcome.status == 410:
            gone.add(delivery.endpoint_id)
        changes = _move_on(delivery, outcome, now=now, factor=factor)
        moved.setdefault(tuple(changes.items()), []).append(delivery)
    statements = [_attempts_insert(attempts, attempted_at=now)] if attempts else []
    # One UPDATE per set of new values (a batch's deliveries mostly share theirs), of the rows
    # still carrying this claim's token: those are ours.
    groups = [(dict(changes), deliveries) for changes, deliveries in moved.items()]
    statements += [_deliveries_move(d, changes, token=claim.token) for changes, d in groups]
    if released:
        statements.append(_deliveries_move(released, {}, token=claim.token))
    if succeeded:
        statements.append(_endpoints_clock(succeeded, None))
    if failed - succeeded:
        statements.append(_endpoints_clock(failed - succeeded, now))
    with transaction.atomic():
        results = _sql().run_together(statements)
        for (changes, deliveries), ours in zip(groups, results[bool(attempts) :], strict=False):
            for delivery in deliveries:
                if delivery.stored_id in ours:
                    states[delivery.id] = changes.get("state", delivery.state)
        endpoints = WebhookEndpoint.objects
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
    render: Render,
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
    *, render: Render, seconds: float, now: datetime | None = None
) -> dict[str, int]:
    """A send job's work: claim a batch of due deliveries, send it, record it, and again, until
    none is left or ``seconds`` have passed (the worker then takes its next job; the dispatch
    wakes workers again while deliveries are due).

    Pipelined: while a batch's POSTs are in flight on the pool's threads, this thread records
    the batch before it and claims and renders the one after it, so the database work costs
    no time on the wire. At most two claims are held: the one in flight and the next. A
    pipelined claim cannot take a delivery early: the in-flight batch's deliveries are still
    pending, so the next ones of their customers are not sendable until that batch is
    recorded; they go in the claim after. Killed anywhere, the claims run out and their
    deliveries are sent again."""
    stop_at = time.monotonic() + seconds
    counts = {"claimed": 0, "attempted": 0}

    def claim_next(pool: ThreadPoolExecutor) -> "_InFlight | None":
        if counts["claimed"] and time.monotonic() >= stop_at:
            return None
        at = now or timezone.now()
        claim = webhook_deliveries_claim(now=at, limit=settings.WEBHOOK_BATCH_SIZE)
        counts["claimed"] += len(claim.deliveries)
        if not claim.deliveries:
            return None
        return _InFlight(claim, render, now=at, pool=pool, senders=senders)

    senders = _Senders()
    with ThreadPoolExecutor(max_workers=settings.WEBHOOK_SEND_THREADS) as pool:
        try:
            batch = claim_next(pool)
            if batch is not None:
                batch.start()
            while batch is not None:
                following = claim_next(pool)  # while this batch's POSTs are in flight
                sent = batch.sent()
                if following is not None:
                    following.start()  # in flight while this thread records the batch
                webhook_deliveries_record(claim=batch.claim, sent=sent, now=batch.now)
                counts["attempted"] += sum(outcome is not None for _, outcome in sent)
                if following is None:
                    # Nothing else was sendable while the batch was pending: what its record
                    # made sendable (the next delivery of its customers) is claimed now.
                    following = claim_next(pool)
                    if following is not None:
                        following.start()
                batch = following
        finally:
            pool.shutdown()  # the lanes still sending give their senders back first
            senders.close()
    return counts


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
