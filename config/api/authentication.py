"""``Authorization: Bearer <token>``, ``Authorization: Token <token>`` and ``Basic``, with a
brake on guessing (config.auth_failures): too many failures from an address or for a username
answer 429 with ``Retry-After`` before any credential is checked."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.authentication import BasicScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from config.api.services import token_authenticate
from config.auth_failures import (
    auth_failure_record,
    auth_lockout_wait,
    auth_success_record,
    lockout_message,
)

KEYWORDS = (b"bearer", b"token")


def refuse_if_locked(request, username: str | None = None) -> None:
    if wait := auth_lockout_wait(request=request, username=username):
        raise exceptions.Throttled(wait=wait, detail=lockout_message(wait))


class ApiTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() not in KEYWORDS:
            return None
        refuse_if_locked(request)
        try:
            return self._authenticate(parts)
        except exceptions.AuthenticationFailed:
            auth_failure_record(request=request)
            raise

    def _authenticate(self, parts: list[bytes]):
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid token header: expected one token."))
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        token = token_authenticate(raw=raw)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked token."))
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class ThrottledBasicAuthentication(authentication.BasicAuthentication):
    """DRF's Basic authentication; locked callers are refused before the password is hashed."""

    def authenticate_credentials(self, userid, password, request=None):
        refuse_if_locked(request, userid)
        try:
            result = super().authenticate_credentials(userid, password, request)
        except exceptions.AuthenticationFailed:
            auth_failure_record(request=request, username=userid)
            raise
        auth_success_record(request=request, username=userid)
        return result


class ThrottledBasicScheme(BasicScheme):
    target_class = ThrottledBasicAuthentication


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = ApiTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "`Authorization: Bearer <token>`; `Token <token>` is accepted too.",
        }
