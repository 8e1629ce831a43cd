from functools import lru_cache
from pathlib import Path

from django.contrib.staticfiles import finders
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse


def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers, 503 otherwise; no authentication, no session."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok"})


REDOC_BUNDLE = "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
# Redoc's side menu always shows Redocly's logo from their CDN; the docs are served offline.
REDOC_CDN_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
# An image that fails to decode: Redoc then drops the <img> (its onError) and keeps the text.
NO_IMAGE = b"data:,"


@lru_cache(maxsize=1)
def _redoc_bundle() -> bytes:
    path = finders.find(REDOC_BUNDLE)
    if path is None:
        raise ImproperlyConfigured(
            f"{REDOC_BUNDLE} not found: is drf_spectacular_sidecar installed?"
        )
    return Path(path).read_bytes().replace(REDOC_CDN_LOGO, NO_IMAGE)


def redoc_bundle(request: HttpRequest) -> HttpResponse:
    """The sidecar's Redoc bundle minus its one request to a CDN (the logo), so /api/redoc/
    asks nothing of any other host."""
    response = HttpResponse(_redoc_bundle(), content_type="application/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=86400"
    return response
