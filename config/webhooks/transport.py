"""Where a webhook may go (the SSRF guard) and the one HTTP request that delivers it.

The host is resolved at every request and the connection made to (or kept alive with) the
address that was checked, so a name that resolves to a public address when checked and to
127.0.0.1 a moment later (DNS rebinding) cannot reach the inside. Redirects are never followed:
a 3xx is a failed attempt. https is verified against the system's CAs (and
``WEBHOOK_CA_BUNDLE``'s): there is no switch to turn verification off.
"""

import functools
import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from django.conf import settings

from config.exceptions import InvalidInput

EXCERPT_BYTES = 1000


# What the API's schema says a URL looks like (the serializer checks it too): http(s), an ASCII
# host with an optional port, no user name, no fragment, a printable ASCII path and query.
PORT = r"([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
URL_PATTERN = rf"^https?://[A-Za-z0-9._~%!$&'()*+,;=-]+(:{PORT})?(/[!-\"$-~]*)?$"


class Refused(InvalidInput):
    """A destination the guard refuses: a bad URL, or an address inside the network."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: a status (None when no answer came), the time it took, the
    start of the answer's body, the error if no answer came, and ``Retry-After`` in seconds."""

    status: int | None
    duration_ms: int
    excerpt: str = ""
    error: str = ""
    retry_after: int | None = None
    timed_out: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def address_refusal(address: str) -> str | None:
    """Why an address is not a webhook destination (None: it may be one)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if settings.WEBHOOK_ALLOW_PRIVATE:
        return None
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_private or ip.is_reserved or ip.is_multicast or ip.is_unspecified:
        return "a private or reserved address"
    return None


def parse_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of a webhook URL, or ``Refused``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"Not a valid URL: {exc}.", attr="url") from None
    if parts.scheme not in {"http", "https"}:
        raise Refused("The URL must start with https:// (or http://).", attr="url")
    if not parts.hostname:
        raise Refused("The URL has no host.", attr="url")
    if parts.username is not None or parts.password is not None:
        raise Refused("The URL may not carry a user name or password.", attr="url")
    if parts.fragment:
        raise Refused("The URL may not have a #fragment.", attr="url")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def resolve(url: str) -> Target:
    """The URL's first address the guard accepts; ``Refused`` if any address it resolves to is
    inside the network (unless ``WEBHOOK_ALLOW_PRIVATE``) or it does not resolve."""
    scheme, host, port, path = parse_url(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Refused(
            f"The host {host!r} does not resolve.", code="unresolvable_host", attr="url"
        ) from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for address in addresses:
        if reason := address_refusal(address):
            raise Refused(
                f"The host {host!r} resolves to {reason} ({address}); webhooks go only to "
                "public addresses (WEBHOOK_ALLOW_PRIVATE allows others).",
                code="private_address",
                attr="url",
            )
    return Target(scheme=scheme, host=host, port=port, path=path, address=addresses[0])


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout, context=tls_context())
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


@functools.cache
def _tls_context(ca_bundle: str) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


def tls_context() -> ssl.SSLContext:
    """The TLS settings of every https delivery: the system's CAs (plus those of
    ``WEBHOOK_CA_BUNDLE``), the certificate and the host name always verified. Made once per
    process (loading the CAs takes milliseconds)."""
    return _tls_context(settings.WEBHOOK_CA_BUNDLE)


def retry_after_seconds(value: str | None) -> int | None:
    """``Retry-After`` in seconds (a number of seconds; an HTTP date is read too)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0, int(when.timestamp() - time.time()))


# A kept-alive connection the receiver has closed meanwhile fails like this before any answer:
# the request is sent once more on a new connection.
STALE_CONNECTION = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)
# Left of an answer beyond the excerpt, read to keep the connection; more, and it is closed.
DRAIN_BYTES = 64 * 1024


class Sender:
    """POSTs from one thread, over keep-alive connections (one per destination address). Each
    request resolves the URL and checks its addresses again: a connection is reused only while
    the host still resolves to the address it was opened to."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._connections: dict[Target, http.client.HTTPConnection] = {}

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    def __enter__(self) -> "Sender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def post(self, *, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        """POST ``body`` to ``url`` once: no redirect followed, at most ``timeout`` seconds for
        the connection and for each read."""
        started = time.monotonic()

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            target = resolve(url)
        except Refused as exc:
            return Outcome(status=None, duration_ms=elapsed(), error=str(exc)[:500])
        headers = {
            **headers,
            "Content-Type": "application/json",
            "User-Agent": "Tagdesk-Webhooks/1",
        }
        connection = self._connections.pop(target, None)
        try:
            try:
                if connection is None:
                    raise _Fresh
                response = self._exchange(connection, target, body, headers)
            except (_Fresh, *STALE_CONNECTION, http.client.BadStatusLine):
                if connection is not None:
                    connection.close()
                connection = _connection_for(target, self.timeout)
                response = self._exchange(connection, target, body, headers)
            excerpt = response.read(EXCERPT_BYTES).decode("utf-8", errors="replace")
            status = response.status
            retry_after = retry_after_seconds(response.getheader("Retry-After"))
            if _drained(response):
                self._connections[target] = connection  # kept for the next request
                connection = None
        except TimeoutError:
            return Outcome(
                status=None,
                duration_ms=elapsed(),
                error=f"No answer within {self.timeout:g} s.",
                timed_out=True,
            )
        except ssl.SSLCertVerificationError as exc:
            return Outcome(
                status=None,
                duration_ms=elapsed(),
                error=f"The TLS certificate was not accepted: {exc.verify_message}."[:500],
            )
        except (OSError, http.client.HTTPException) as exc:
            return Outcome(
                status=None, duration_ms=elapsed(), error=f"{type(exc).__name__}: {exc}"[:500]
            )
        finally:
            if connection is not None:
                connection.close()
        error = ""
        if 300 <= status < 400:
            error = "Redirects are not followed: a webhook URL must answer 2xx itself."
        return Outcome(
            status=status,
            duration_ms=elapsed(),
            excerpt=excerpt,
            error=error,
            retry_after=retry_after,
        )

    @staticmethod
    def _exchange(
        connection: http.client.HTTPConnection, target: Target, body: bytes, headers: dict
    ) -> http.client.HTTPResponse:
        connection.request("POST", target.path, body=body, headers=headers)
        return connection.getresponse()


def _drained(response: http.client.HTTPResponse) -> bool:
    """Whether the rest of the answer was read, so its connection can take another request
    (the answer counts whatever happens here)."""
    if response.will_close:
        return False
    try:
        return len(response.read(DRAIN_BYTES)) < DRAIN_BYTES
    except (OSError, http.client.HTTPException):
        return False


class _Fresh(Exception):
    """No kept connection: open one."""


def _connection_for(target: Target, timeout: float) -> http.client.HTTPConnection:
    if target.scheme == "https":
        return _PinnedHTTPSConnection(target, timeout)
    return _PinnedHTTPConnection(target, timeout)


def post(*, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Outcome:
    """One POST on a connection of its own (see ``Sender.post``)."""
    with Sender(timeout) as sender:
        return sender.post(url=url, body=body, headers=headers)
