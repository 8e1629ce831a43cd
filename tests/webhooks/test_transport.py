"""The webhook sender on the wire (``transport.Sender``), against a receiver that answers with
exact bytes: every HTTP/1.x form of an answer is read whole and right, a connection is kept only
when the answer says it may be, a long body is not read to its end, a kept connection the
receiver closed is retried once and a fresh one never, and a URL is resolved once per recheck."""

import time
from email.utils import formatdate

import pytest

from config.webhooks import transport
from tests.webhooks.receiver import RawReceiver, Reply

TIMEOUT = 2.0
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.fixture
def raw():
    with RawReceiver() as running:
        yield running


@pytest.fixture
def sender():
    with transport.Sender(TIMEOUT) as running:
        yield running


def post(sender: transport.Sender, raw: RawReceiver, body: bytes = b"{}", **headers: str):
    return sender.post(url=raw.url(), body=body, headers=headers)


def test_a_chunked_answer_is_read_whole_and_its_connection_kept(raw, sender):
    # given a receiver that answers in chunks
    raw.reply(
        Reply(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
    )
    # when two requests are sent
    first = post(sender, raw)
    second = post(sender, raw)
    # then the first answer is read whole and the second request went on the same connection
    assert (first.status, first.excerpt, first.error) == (200, "hello world", "")
    assert second.status == 200
    assert raw.connections == 1
    assert [number for number, _ in raw.requests] == [1, 1]


@pytest.mark.parametrize("version", [b"HTTP/1.1", b"HTTP/1.0"])
def test_a_body_that_ends_with_the_connection_is_complete_and_the_connection_not_kept(
    raw, sender, version
):
    # given an answer with neither Content-Length nor chunks: its body ends when it closes
    raw.reply(
        Reply(version + b" 200 OK\r\nContent-Type: text/plain\r\n\r\nthe whole body", close=True)
    )
    # when it is posted to
    first = post(sender, raw)
    # then the answer is its whole body, and its connection is not kept (a kept one would
    # only be found closed at the next request, and that request sent again)
    assert (first.status, first.excerpt, first.error) == (200, "the whole body", "")
    assert sender._connections == {}
    # and the second request took a new connection
    second = post(sender, raw)
    assert second.status == 200
    assert raw.connections == 2


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
    ],
    ids=["http/1.0 without keep-alive", "connection: close"],
)
def test_a_connection_the_answer_does_not_keep_alive_is_not_reused(raw, sender, answer):
    # given an answer that does not keep its connection, though the receiver would read on
    raw.reply(Reply(answer))
    # when two requests are sent
    first = post(sender, raw)
    second = post(sender, raw)
    # then the second went on a new connection
    assert (first.status, first.excerpt) == (200, "ok")
    assert second.status == 200
    assert raw.connections == 2
    assert [number for number, _ in raw.requests] == [1, 2]


def test_a_long_body_is_not_read_to_its_end_and_its_connection_is_closed(raw, sender):
    # given an answer announcing 100 MB, of which far more than the excerpt and the drain
    # arrive, and then nothing (the rest would never come)
    body = bytes(range(32, 127)) * 3000
    assert len(body) > transport.EXCERPT_BYTES + transport.DRAIN_BYTES
    raw.reply(Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n" + body))
    # when it is posted to
    started = time.monotonic()
    outcome = post(sender, raw)
    # then the post returns before its timeout, with the body's first 1000 characters
    assert time.monotonic() - started < TIMEOUT / 2
    assert (outcome.status, outcome.timed_out, outcome.error) == (200, False, "")
    assert outcome.excerpt == body[: transport.EXCERPT_BYTES].decode()
    # and the connection was closed: the next request takes a new one
    assert post(sender, raw).status == 200
    assert raw.connections == 2
    raw.wait_ended(1)


def test_the_excerpt_is_the_first_bytes_of_the_body_with_bad_utf8_replaced(raw, sender):
    # given a body that starts with a byte that is not UTF-8 and has a two-byte character
    # across the excerpt's end
    body = b"\xff" + b"x" * (transport.EXCERPT_BYTES - 2) + "é and more".encode()
    raw.reply(Reply(b"HTTP/1.1 500 Oops\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)))
    # when it is posted to
    outcome = post(sender, raw)
    # then the excerpt is the first EXCERPT_BYTES bytes, each bad sequence a replacement
    assert outcome.status == 500
    assert outcome.excerpt == "\ufffd" + "x" * (transport.EXCERPT_BYTES - 2) + "\ufffd"


def test_an_interim_answer_is_skipped_for_the_final_one(raw, sender):
    # given a 103 Early Hints (with a Retry-After of its own) before the final answer
    raw.reply(
        Reply(
            b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n"
            b"Retry-After: 5\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal"
        )
    )
    # when it is posted to
    outcome = post(sender, raw)
    # then the outcome is the final answer's, nothing of the interim one
    assert (outcome.status, outcome.excerpt, outcome.error) == (200, "final", "")
    assert outcome.retry_after is None
    # and the connection is kept for the next request
    assert post(sender, raw).status == 200
    assert raw.connections == 1


@pytest.mark.parametrize("name", [b"Retry-After", b"retry-after", b"RETRY-AFTER"])
def test_retry_after_in_seconds_is_read_whatever_the_header_case(raw, sender, name):
    raw.reply(Reply(b"HTTP/1.1 503 Busy\r\n%s: 120\r\nContent-Length: 0\r\n\r\n" % name))
    outcome = post(sender, raw)
    assert (outcome.status, outcome.retry_after) == (503, 120)


def test_retry_after_as_an_http_date_is_read_as_the_seconds_until_then(raw, sender):
    # given a Retry-After ten minutes from now, as a date
    when = formatdate(time.time() + 600, usegmt=True).encode()
    raw.reply(
        Reply(b"HTTP/1.1 429 Slow down\r\nRetry-After: %s\r\nContent-Length: 0\r\n\r\n" % when)
    )
    # when it is posted to
    outcome = post(sender, raw)
    # then it is read as about 600 seconds (the date is to the second)
    assert outcome.status == 429
    assert 590 <= outcome.retry_after <= 600


def test_no_retry_after_is_none(raw, sender):
    raw.reply(Reply(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n"))
    outcome = post(sender, raw)
    assert (outcome.status, outcome.retry_after) == (503, None)


@pytest.mark.parametrize("value", [b"\xb2", b"soon", b"-5", b"1.5"], ids=repr)
def test_a_retry_after_that_is_neither_seconds_nor_a_date_is_none(raw, sender, value):
    # given a Retry-After that is not a number of seconds (b"\xb2" reads as "²", a digit to
    # str.isdigit) nor a date
    raw.reply(Reply(b"HTTP/1.1 503 Busy\r\nRetry-After: %s\r\nContent-Length: 0\r\n\r\n" % value))
    # when it is posted to
    outcome = post(sender, raw)
    # then the answer is read, without a Retry-After
    assert (outcome.status, outcome.retry_after) == (503, None)


def test_an_answer_that_is_not_http_is_a_failed_attempt_not_an_exception(raw, sender):
    raw.reply(Reply(b"hello\r\n\r\n"))
    outcome = post(sender, raw)
    assert outcome.status is None
    assert outcome.error.startswith("Not an HTTP answer")
    assert not outcome.succeeded


def test_an_answer_that_switches_protocols_is_a_failed_attempt_not_an_exception(raw, sender):
    # given a receiver that answers the POST with 101 Switching Protocols
    raw.reply(
        Reply(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\n\r\n\x81\x02hi"
        )
    )
    # when it is posted to
    outcome = post(sender, raw)
    # then the attempt failed, saying why, and the connection is not kept
    assert outcome.status is None
    assert outcome.error == "Not an HTTP answer: the receiver switched protocols (101)."
    assert sender._connections == {}


def test_a_fresh_connection_closed_without_an_answer_fails_and_is_not_retried(raw, sender):
    # given a receiver that reads the request and closes its connection without answering
    raw.reply(Reply(close=True))
    # when it is posted to
    outcome = post(sender, raw)
    # then the attempt failed with the reason, and the request was sent once only
    assert outcome.status is None
    assert outcome.error.startswith("ConnectionResetError")
    assert not outcome.timed_out
    assert len(raw.requests) == 1
    assert raw.connections == 1


def test_a_kept_connection_the_receiver_closed_is_retried_once_on_a_new_one(raw, sender):
    # given a kept connection the receiver closed after its answer, without saying so
    raw.reply(Reply(OK, close=True))
    first = post(sender, raw, body=b'{"n": 1}')
    assert first.status == 200
    raw.wait_ended(1)
    # when the next request is sent
    second = post(sender, raw, body=b'{"n": 2}')
    # then it went once, on a new connection, and was answered
    assert (second.status, second.excerpt, second.error) == (200, "ok", "")
    assert raw.connections == 2
    assert [number for number, _ in raw.requests] == [1, 2]
    assert raw.requests[1][1].endswith(b'{"n": 2}')


def test_a_redirect_is_a_failed_attempt_and_its_location_is_not_followed(raw, sender):
    # given a receiver that redirects to another of its paths
    location = raw.url("/elsewhere").encode()
    raw.reply(Reply(b"HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n" % location))
    # when it is posted to
    outcome = post(sender, raw)
    # then the redirect is the outcome, a failure saying why, and nothing went to its Location
    assert outcome.status == 302
    assert outcome.error.startswith("Redirects are not followed")
    assert not outcome.succeeded
    assert len(raw.requests) == 1
    assert raw.requests[0][1].startswith(b"POST /hooks ")


def test_the_request_is_a_post_with_the_path_host_length_type_agent_headers_and_body(raw, sender):
    # given a body with non-ASCII bytes and line ends in it, and headers of the caller's
    body = ' {"name": "Zoë",\r\n\r\n "n": 1}\n'.encode()
    # when it is posted to a URL with a query
    outcome = sender.post(
        url=raw.url("/hooks/in?a=1&b=two"),
        body=body,
        headers={"webhook-id": "msg_1", "webhook-signature": "v1,abc="},
    )
    assert outcome.status == 200
    # then the receiver got one POST with exactly these lines and this body
    [(_, request)] = raw.requests
    head, _, received = request.partition(b"\r\n\r\n")
    first, *lines = head.decode("latin-1").split("\r\n")
    assert first == "POST /hooks/in?a=1&b=two HTTP/1.1"
    headers = dict(line.split(": ", 1) for line in lines)
    assert len(headers) == len(lines)  # no header twice
    assert {name.lower(): value for name, value in headers.items()} == {
        "host": f"127.0.0.1:{raw.port}",
        "content-length": str(len(body)),
        "content-type": "application/json",
        "user-agent": transport.USER_AGENT,
        "webhook-id": "msg_1",
        "webhook-signature": "v1,abc=",
    }
    assert received == body


@pytest.fixture
def resolutions(monkeypatch):
    """The URLs resolved, in order (the addresses as the real resolver gives them)."""
    seen: list[str] = []
    real = transport.resolve

    def resolve(url: str) -> transport.Target:
        seen.append(url)
        return real(url)

    monkeypatch.setattr(transport, "resolve", resolve)
    return seen


def test_a_url_is_resolved_once_until_recheck(raw, sender, resolutions):
    # when two requests are sent, a recheck, and one more
    assert post(sender, raw).status == 200
    assert post(sender, raw).status == 200
    assert resolutions == [raw.url()]
    sender.recheck()
    assert post(sender, raw).status == 200
    # then the URL was resolved again after the recheck only, and as it resolved to the same
    # address the kept connection served all three
    assert resolutions == [raw.url(), raw.url()]
    assert raw.connections == 1


def test_a_host_that_resolves_elsewhere_after_recheck_gets_a_new_connection(
    raw, sender, monkeypatch
):
    # given a host that resolves to 127.0.0.1, and after a recheck to another address of the
    # same receiver (IPv4-mapped IPv6)
    addresses = ["127.0.0.1", "::ffff:127.0.0.1"]

    def resolve(url: str) -> transport.Target:
        scheme, host, port, path = transport.parse_url(url)
        return transport.Target(scheme, host, port, path, address=addresses[0])

    monkeypatch.setattr(transport, "resolve", resolve)
    assert post(sender, raw).status == 200
    assert post(sender, raw).status == 200
    assert raw.connections == 1
    # when the host resolves elsewhere at the next check
    addresses.pop(0)
    sender.recheck()
    outcome = post(sender, raw)
    # then the connection kept to the old address is not used for the new one
    assert outcome.status == 200
    assert raw.connections == 2
    assert [number for number, _ in raw.requests] == [1, 1, 2]
    assert {target.address for target in sender._connections} == {
        "127.0.0.1",
        "::ffff:127.0.0.1",
    }


def test_no_answer_within_the_timeout_is_a_timed_out_attempt(raw):
    # given a receiver that reads the request and never answers
    raw.reply(Reply(hang=True))
    # when it is posted to with a short timeout
    started = time.monotonic()
    with transport.Sender(0.3) as sender:
        outcome = post(sender, raw)
    # then the attempt timed out after about that long
    assert (outcome.status, outcome.timed_out) == (None, True)
    assert outcome.error == "No answer within 0.3 s."
    assert 0.25 <= time.monotonic() - started < 1.5
    assert 250 <= outcome.duration_ms < 1500


def test_an_answer_trickling_in_is_cut_off_at_the_timeout(raw):
    # given a receiver that answers a byte every 0.1 s: each read gets something in time, the
    # whole answer would take seconds (and a lane, and a claim's lease, would wait for it)
    raw.reply(Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n" + b"x" * 40, trickle=0.1))
    # when it is posted to with a timeout of 0.5 s
    started = time.monotonic()
    with transport.Sender(0.5) as sender:
        outcome = post(sender, raw)
    # then the attempt timed out once the whole exchange took that long
    assert (outcome.status, outcome.timed_out) == (None, True)
    assert outcome.error == "No answer within 0.5 s."
    assert time.monotonic() - started < 1.5
