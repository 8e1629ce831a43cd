"""The SSRF guard: a destination resolving inside the network is refused on create, on update
and again at every attempt, unless WEBHOOK_ALLOW_PRIVATE."""

import socket

import pytest
from django.utils import timezone

from config.webhooks import services, transport
from config.webhooks.models import WebhookAttempt, WebhookEndpoint
from tests.webhooks.helpers import an_event, endpoint_for, owed, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def dns(monkeypatch):
    """Names resolve to the addresses the test gives."""
    table: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in table:
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, port),
                )
                for a in table[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("169.254.169.254", "a link-local address"),
        ("10.1.2.3", "a private or reserved address"),
        ("192.168.0.10", "a private or reserved address"),
        ("::ffff:10.0.0.1", "a private or reserved address"),
        ("0.0.0.0", "a private or reserved address"),
    ],
)
def test_inside_addresses_are_refused_with_the_reason(settings, dns, address, reason):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    dns["hooks.example.com"] = [address]
    with pytest.raises(transport.Refused) as refused:
        endpoint_for("https://hooks.example.com/in")
    assert refused.value.attr == "url"
    assert reason in str(refused.value)
    assert not WebhookEndpoint.objects.exists()


def test_one_inside_address_among_public_ones_is_enough_to_refuse(settings, dns):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    dns["hooks.example.com"] = ["93.184.216.34", "10.0.0.1"]
    with pytest.raises(transport.Refused, match="private"):
        endpoint_for("https://hooks.example.com/in")


def test_a_public_address_is_accepted(settings, dns):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    dns["hooks.example.com"] = ["93.184.216.34"]
    endpoint, _ = endpoint_for("https://hooks.example.com/in")
    assert endpoint.url == "https://hooks.example.com/in"


def test_the_setting_allows_inside_addresses(settings, dns):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    dns["hooks.example.com"] = ["10.0.0.1"]
    endpoint_for("https://hooks.example.com/in")


def test_an_update_is_checked_too(settings, dns):
    dns["hooks.example.com"] = ["93.184.216.34"]
    dns["inside.example.com"] = ["10.0.0.1"]
    settings.WEBHOOK_ALLOW_PRIVATE = False
    endpoint, _ = endpoint_for("https://hooks.example.com/in")
    with pytest.raises(transport.Refused):
        services.webhook_endpoint_update(
            endpoint=endpoint, data={"url": "https://inside.example.com/"}
        )
    endpoint.refresh_from_db()
    assert endpoint.url == "https://hooks.example.com/in"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/", "must start with https://"),
        ("https://user:pw@example.com/", "user name or password"),
        ("https:///path", "no host"),
        ("https://example.com:99999/", "Not a valid URL"),
        ("https://example.com/#x", "fragment"),
        ("https://no-such-host.invalid/", "does not resolve"),
        ("https://example.com/caf\u00e9", "printable ASCII"),
        ("https://example.com/a b", "printable ASCII"),
        ("https://b\u00fccher.example/", "printable ASCII"),
    ],
)
def test_malformed_urls_are_refused(url, message):
    with pytest.raises(transport.Refused, match=message):
        endpoint_for(url)


def test_a_stored_url_the_request_line_cannot_carry_fails_the_attempt(receiver):
    # given an endpoint whose URL got a non-ASCII path past the checks (written directly)
    endpoint, _ = endpoint_for(receiver.url)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url=receiver.url + "/caf\u00e9\u4e2d")
    now = timezone.now()
    delivery = owed(endpoint, an_event(), now=now)
    # when it is sent, then the attempt fails with the reason instead of breaking the batch
    assert send(delivery, now=now).state == "pending"
    assert receiver.received == []
    assert "printable ASCII" in WebhookAttempt.objects.get(delivery=delivery).error


def test_the_guard_runs_again_at_delivery_time(receiver, settings):
    # given an endpoint on 127.0.0.1 accepted while inside addresses were allowed
    endpoint, _ = endpoint_for(receiver.url)
    now = timezone.now()
    delivery = owed(endpoint, an_event(), now=now)
    # when they no longer are (the name now resolves inside: DNS rebinding)
    settings.WEBHOOK_ALLOW_PRIVATE = False
    assert send(delivery, now=now).state == "pending"
    # then nothing reaches the address, and the attempt says why
    assert receiver.received == []
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert "loopback" in attempt.error
