"""Where a webhook may go (the SSRF guard) and the one HTTP request that delivers it.

The host is resolved and checked for every batch a sender sends (``Sender.recheck``) and the
connection made to (or kept alive with) the address that was checked, so a name that resolves to a public address when checked and to
127.0.0.1 a moment later (DNS rebinding) cannot reach the inside. Redirects are never followed:
a 3xx is a failed attempt. https is verified against the system's CAs (and
``WEBHOOK_CA_BUNDLE``'s): there is no switch to turn verification off.
"""

import functools
import ipaddress
import re
import socket
import ssl
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httptools
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
    if not re.fullmatch(URL_PATTERN, url):
        # the request line and Host header are written as they are: printable ASCII only
        raise Refused(
            "The URL may hold only printable ASCII, no spaces: percent-encode the rest "
            "(and give an international host name in its xn-- form).",
            attr="url",
        )
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
    if value.isascii() and value.isdigit():  # not "²", a digit to isdigit()
        return int(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0, int(when.timestamp() - time.time()))


# Left of an answer beyond the excerpt, read to keep the connection; more, and it is closed.
DRAIN_BYTES = 64 * 1024
USER_AGENT = "Tagdesk-Webhooks/1"


class Stale(Exception):
    """A kept-alive connection the receiver had closed meanwhile: nothing of an answer came.
    The request is sent once more on a new connection."""


class _Answer:
    """An answer as the parser reads it (httptools calls these methods): its status, its
    ``Retry-After``, the start of its body, and whether it is complete."""

    def __init__(self, parser_class: type) -> None:
        self.parser = parser_class(self)
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.messages = 0
        self.retry_after: bytes | None = None
        self.body = bytearray()
        self.body_bytes = 0

    def on_message_begin(self) -> None:
        self.messages += 1

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.complete and name.lower() == b"retry-after":
            self.retry_after = value

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        if self.complete:  # bytes after the answer: the connection is not kept (``messages``)
            return
        self.body_bytes += len(body)
        if len(self.body) < EXCERPT_BYTES:
            self.body += body[: EXCERPT_BYTES - len(self.body)]

    def on_message_complete(self) -> None:
        if self.complete:
            return
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            # an interim answer (103 Early Hints, …): the final one follows; only it counts
            self.headers_done, self.retry_after = False, None
            self.body, self.body_bytes = bytearray(), 0
            self.messages -= 1
            return
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()  # known inside the callback only


class _Connection:
    """One connection to the checked address of a target (TLS for https, the host name
    verified), which answers are read from with httptools' parser (llhttp): the request is a
    few fixed lines, the answer is what a receiver may send in any HTTP/1.x form."""

    def __init__(self, target: Target, timeout: float) -> None:
        sock = socket.create_connection((target.address, target.port), timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if target.scheme == "https":
                sock = tls_context().wrap_socket(sock, server_hostname=target.host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.timeout = timeout
        default_port = 443 if target.scheme == "https" else 80
        host = target.host if ":" not in target.host else f"[{target.host}]"
        self.host = host if target.port == default_port else f"{host}:{target.port}"
        self.path = target.path

    def close(self) -> None:
        self.sock.close()

    def exchange(self, body: bytes, headers: dict[str, str], *, kept: bool) -> tuple[_Answer, bool]:
        """Send the POST and read its answer (up to ``DRAIN_BYTES`` past the excerpt) within
        ``timeout`` seconds in all; the answer, and whether the connection can take another
        request. ``Stale`` if the connection was ``kept`` and closed before any answer."""
        lines = [f"POST {self.path} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        answer = _Answer(httptools.HttpResponseParser)
        # One deadline for the whole exchange: an answer trickling in a byte at a time gets
        # each read in time, and would otherwise hold the lane (and outlast the claim's lease).
        deadline = time.monotonic() + self.timeout
        try:
            self.sock.settimeout(self.timeout)
            self.sock.sendall(head + body)
            while not answer.complete:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                self.sock.settimeout(left)
                data = self.sock.recv(65536)
                if not data:
                    if answer.headers_done:  # a body that ends with the connection
                        answer.complete = True
                        return answer, False
                    raise ConnectionResetError("The connection closed before an answer.")
                answer.parser.feed_data(data)
                if answer.body_bytes > EXCERPT_BYTES + DRAIN_BYTES:
                    return answer, False  # the rest is not read: the connection is closed
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as exc:
            if kept and not answer.messages:
                raise Stale from exc
            raise
        return answer, answer.messages == 1 and answer.keep_alive


class Sender:
    """POSTs from one thread, over keep-alive connections (one per checked address). A URL is
    resolved and its addresses checked on its first request after ``recheck()`` (each batch
    calls it: the check is at most a batch old) and a connection is kept only to the address
    checked, so a host that resolves elsewhere meanwhile gets a new connection there."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._targets: dict[str, Target] = {}
        self._connections: dict[Target, _Connection] = {}

    def recheck(self) -> None:
        """Resolve and check every URL again on its next request."""
        self._targets.clear()

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    def __enter__(self) -> "Sender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def post(self, *, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        """POST ``body`` to ``url`` once: no redirect followed, at most ``timeout`` seconds to
        connect and ``timeout`` seconds for the request and its whole answer."""
        started = time.monotonic()

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            target = self._targets.get(url) or self._targets.setdefault(url, resolve(url))
        except Refused as exc:
            return Outcome(status=None, duration_ms=elapsed(), error=str(exc)[:500])
        headers = {**headers, "Content-Type": "application/json", "User-Agent": USER_AGENT}
        connection = self._connections.pop(target, None)
        try:
            answer = None
            if connection is not None:
                try:
                    answer, keep = connection.exchange(body, headers, kept=True)
                except Stale:
                    connection.close()
            if answer is None:
                connection = _Connection(target, self.timeout)
                answer, keep = connection.exchange(body, headers, kept=False)
            if keep:
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
        except httptools.HttpParserUpgrade:  # not a subclass of HttpParserError
            return Outcome(
                status=None,
                duration_ms=elapsed(),
                error="Not an HTTP answer: the receiver switched protocols (101).",
            )
        except httptools.HttpParserError as exc:
            return Outcome(
                status=None, duration_ms=elapsed(), error=f"Not an HTTP answer: {exc}"[:500]
            )
        except OSError as exc:
            return Outcome(
                status=None, duration_ms=elapsed(), error=f"{type(exc).__name__}: {exc}"[:500]
            )
        finally:
            if connection is not None:
                connection.close()
        status = answer.parser.get_status_code()
        error = ""
        if 300 <= status < 400:
            error = "Redirects are not followed: a webhook URL must answer 2xx itself."
        retry_after = answer.retry_after
        return Outcome(
            status=status,
            duration_ms=elapsed(),
            # NUL is no text to PostgreSQL: kept, it would fail the batch's whole record
            excerpt=answer.body.decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
            error=error,
            retry_after=retry_after_seconds(
                None if retry_after is None else retry_after.decode("latin-1")
            ),
        )
