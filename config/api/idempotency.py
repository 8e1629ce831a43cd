"""``Idempotency-Key`` on POST (IETF httpapi idempotency-key draft), for every API endpoint.

``begin`` claims the key before the work runs (its own committed INSERT), ``finish`` stores the
response, and a later request with the same key replays it. Same key with another method, path,
body or datetime format → 422; while the first request is still running → 409. Keys live 24 hours
(``manage.py prune_idempotency_keys``).
"""

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone
from rest_framework import exceptions, status

from config.api.fields import UNIX_MS_HEADER, wants_unix_ms
from config.api.models import ApiToken, IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# Visible ASCII, inner spaces allowed (HTTP trims the ends of header values anyway).
KEY_PATTERN = r"^[!-~]([ -~]{0,253}[!-~])?$"
LIFETIME = timedelta(hours=24)


class KeyInFlight(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "A request with this Idempotency-Key is still being processed; retry later."
    default_code = "idempotency_key_in_flight"


class KeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = (
        "This Idempotency-Key was used with a different request (method, path, body or "
        "X-Datetime-Format)."
    )
    default_code = "idempotency_key_reused"


class Replay(Exception):
    """Raised to short-circuit a request whose key already has a stored response."""

    def __init__(self, response: HttpResponse):
        self.response = response


@dataclass
class Claim:
    record: IdempotencyKey


def _client(request) -> str:
    if isinstance(request.auth, ApiToken):
        return f"token:{request.auth.pk}"
    return f"user:{request.user.pk}"


def _fingerprint(request) -> str:
    """Method, full path, body bytes and the datetime format asked for.

    A replay is the first response byte for byte, so a request asking for another
    representation (``X-Datetime-Format: unix_ms`` vs ISO) is another request (422), not a
    replay in the wrong format. ISO, the default, adds nothing, so absent and ``iso`` match.
    """
    digest = hashlib.sha256()
    for part in (request.method, request.get_full_path()):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    digest.update(request._request.body)
    if wants_unix_ms({"request": request}):
        digest.update(b"\0" + UNIX_MS_HEADER.encode() + b": unix_ms")
    return digest.hexdigest()


def begin(request) -> Claim | None:
    """Claim the request's key, or raise Replay / KeyInFlight / KeyReused. None without a key."""
    if request.method != "POST":
        return None
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not re.match(KEY_PATTERN, key):
        message = f"Must be 1–{MAX_KEY_LENGTH} visible ASCII characters."
        raise exceptions.ValidationError({HEADER: [exceptions.ErrorDetail(message, "invalid")]})
    client, fingerprint = _client(request), _fingerprint(request)
    for _ in range(2):
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    client=client, key=key, fingerprint=fingerprint
                )
            return Claim(record)
        except IntegrityError:
            existing = IdempotencyKey.objects.filter(client=client, key=key).first()
            if existing is None:
                continue  # pruned meanwhile: try to claim again
            if existing.created_at < timezone.now() - LIFETIME:
                IdempotencyKey.objects.filter(
                    pk=existing.pk, created_at=existing.created_at
                ).delete()
                continue
            if existing.fingerprint != fingerprint:
                raise KeyReused() from None
            if existing.completed_at is None:
                raise KeyInFlight() from None
            response = HttpResponse(
                bytes(existing.response_body or b""),
                status=existing.response_status,
                content_type=existing.response_content_type or None,
            )
            response[REPLAYED_HEADER] = "true"
            raise Replay(response) from None
    raise KeyInFlight()


def finish(claim: Claim, response) -> None:
    """Store the response for replay; a server error releases the key so a retry can run."""
    if response.status_code >= 500:
        IdempotencyKey.objects.filter(pk=claim.record.pk).delete()
        return
    if hasattr(response, "render") and not getattr(response, "is_rendered", True):
        response.render()
    IdempotencyKey.objects.filter(pk=claim.record.pk).update(
        completed_at=timezone.now(),
        response_status=response.status_code,
        response_content_type=response.get("Content-Type", ""),
        response_body=bytes(response.content),
    )


def prune(*, older_than: timedelta = LIFETIME) -> int:
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - older_than).delete()
    return deleted
