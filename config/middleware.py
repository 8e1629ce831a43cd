"""How requests reach the views: both slash forms of every route, and JSON errors under /api/.

Both are done once here, for every route, rather than per view or per URL pattern.
"""

from collections.abc import Callable

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, get_resolver

# Paths whose every answer, errors included, is JSON (and never one of Django's debug pages).
JSON_PATH_PREFIXES = ("/api/", "/healthz")

# The admin's last URL pattern catches everything to redirect to the slashed form (a 301 that
# turns a POST into a GET): a path that only it matches counts as unresolved here.
_CATCH_ALL_VIEWS = {"catch_all_view"}


def _resolves(path: str, urlconf: str | None) -> bool:
    try:
        match = get_resolver(urlconf).resolve(path)
    except Resolver404:
        return False
    return getattr(match.func, "__name__", "") not in _CATCH_ALL_VIEWS


class BothSlashFormsMiddleware:
    """Serve ``/things`` and ``/things/`` (and ``/things/{id}/``) alike, without a redirect.

    The URL patterns (and so the schema) keep one form; when a path does not resolve but its
    other form does, the request is routed internally to that form. A redirect would make
    clients repeat a POST as a GET, or fail under ``APPEND_SLASH`` with DEBUG on.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        urlconf = getattr(request, "urlconf", None)
        if path != "/" and not _resolves(path, urlconf):
            other = path[:-1] if path.endswith("/") else f"{path}/"
            if _resolves(other, urlconf):
                script_name = request.path[: len(request.path) - len(path)]
                request.path_info = other
                request.path = f"{script_name}{other}"
                request.META["PATH_INFO"] = other
        return self.get_response(request)


ERROR_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "throttled",
}
ERROR_DETAILS = {
    400: "Bad request.",
    401: "Authentication credentials were not provided.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    405: "Method not allowed.",
    406: "Could not satisfy the request Accept header.",
    413: "Request body is larger than the server accepts.",
    415: "Unsupported media type in request.",
    429: "Request was throttled.",
}
# Headers of the original answer a client still needs once its body is replaced.
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate", "X-Request-ID")


def is_json_path(path: str) -> bool:
    return path.startswith(JSON_PATH_PREFIXES)


def error_response(status: int, *, code: str | None = None, detail: str | None = None):
    """An error in the API's format for a status, when no view produced one."""
    if status >= 500:
        body = {
            "type": "server_error",
            "errors": [{"code": "error", "detail": "A server error occurred.", "attr": None}],
        }
    else:
        body = {
            "type": "client_error",
            "errors": [
                {
                    "code": code or ERROR_CODES.get(status, "error"),
                    "detail": detail or ERROR_DETAILS.get(status, "Request refused."),
                    "attr": None,
                }
            ],
        }
    return JsonResponse(body, status=status)


def _is_json(response: HttpResponse) -> bool:
    content_type = response.get("Content-Type", "")
    return content_type.startswith("application/json") or "+json" in content_type


class JsonErrorsMiddleware:
    """Every error under /api/ and /healthz is JSON in the API's error format.

    Errors the API's views raise already are (drf-standardized-errors). This covers the rest:
    unknown paths, a disallowed Host header, an exception outside a view, and DEBUG's technical
    pages, which would otherwise show settings, environment and URL patterns to anyone.
    A DRF response rendered as HTML for a browser keeps its data, in JSON.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or not is_json_path(request.path_info):
            return response
        if _is_json(response):
            return response
        data = getattr(response, "data", None)
        if isinstance(data, dict) and "errors" in data:
            replacement = JsonResponse(data, status=response.status_code)
        elif response.status_code == 400 and not _host_allowed(request):
            replacement = error_response(
                400, code="invalid_host", detail="The Host header names a host not served here."
            )
        else:
            replacement = error_response(response.status_code)
        for header in _KEPT_HEADERS:
            if header in response:
                replacement[header] = response[header]
        return replacement


def _host_allowed(request: HttpRequest) -> bool:
    try:
        request.get_host()
    except DisallowedHost:
        return False
    return True
