"""Deliveries to https:// endpoints: a receiver with a certificate made for the test (openssl).
The sender trusts it only through ``WEBHOOK_CA_BUNDLE``; a certificate it does not trust fails
the attempt, recorded with a clear error, and nothing is sent."""

import shutil
import ssl
import subprocess
import time

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from config.webhooks import transport
from config.webhooks.models import WebhookAttempt
from tests.webhooks.helpers import an_event, endpoint_for, owed, send
from tests.webhooks.receiver import Answer, Receiver

pytestmark = pytest.mark.django_db


def self_signed(directory, name: str, san: str) -> tuple[str, str]:
    """A self-signed certificate (its own CA) and its key, for ``san``."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    command = (
        f"req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
        f"-subj /CN={name} -addext subjectAltName={san} -keyout {key} -out {cert}"
    )
    openssl = shutil.which("openssl") or "openssl"
    subprocess.run([openssl, *command.split()], check=True, capture_output=True)
    return str(cert), str(key)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    return {
        "receiver": self_signed(directory, "receiver", "IP:127.0.0.1"),
        "other": self_signed(directory, "other", "IP:127.0.0.1"),
        "elsewhere": self_signed(directory, "elsewhere", "DNS:elsewhere.example"),
    }


def tls_receiver(cert_and_key: tuple[str, str]) -> Receiver:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*cert_and_key)
    return Receiver(keep_alive=True, tls=context)


@pytest.fixture
def https_receiver(certificates):
    with tls_receiver(certificates["receiver"]) as running:
        yield running


def test_a_delivery_over_https_to_a_trusted_certificate_succeeds_and_verifies(
    https_receiver, certificates, settings
):
    # given an https endpoint whose certificate the sender trusts through WEBHOOK_CA_BUNDLE
    settings.WEBHOOK_CA_BUNDLE = certificates["receiver"][0]
    endpoint, secret = endpoint_for(https_receiver.url)
    assert endpoint.url.startswith("https://127.0.0.1:")
    now = timezone.now()
    # when two deliveries are sent
    first, second = owed(endpoint, an_event(), now=now), owed(endpoint, an_event(), now=now)
    assert send(first, now=now).state == "succeeded"
    assert send(second, now=now).state == "succeeded"
    # then both arrived over TLS and verify with the endpoint's secret
    assert [r.headers["webhook-id"] for r in https_receiver.received] == [
        first.event_id,
        second.event_id,
    ]
    for request in https_receiver.received:
        Webhook(secret).verify(request.body, request.headers)


@pytest.mark.parametrize(
    ("bundle", "reason"),
    [
        (None, "self-signed certificate"),  # the system's CAs only
        ("other", "self-signed certificate"),  # another CA
        ("elsewhere", "self-signed certificate"),  # another CA, another name
    ],
)
def test_a_certificate_the_sender_does_not_trust_fails_the_attempt(
    https_receiver, certificates, settings, bundle, reason
):
    settings.WEBHOOK_CA_BUNDLE = certificates[bundle][0] if bundle else ""
    endpoint, _ = endpoint_for(https_receiver.url)
    now = timezone.now()
    delivery = owed(endpoint, an_event(), now=now)
    # the attempt fails, to be retried, with the reason recorded; nothing reached the receiver
    assert send(delivery, now=now).state == "pending"
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.status is None
    assert attempt.error.startswith("The TLS certificate was not accepted: ")
    assert reason in attempt.error
    assert https_receiver.received == []


def test_a_trusted_certificate_for_another_name_fails_the_attempt(certificates, settings):
    # given a receiver whose certificate is trusted but names another host
    settings.WEBHOOK_CA_BUNDLE = certificates["elsewhere"][0]
    with tls_receiver(certificates["elsewhere"]) as receiver:
        endpoint, _ = endpoint_for(receiver.url)
        now = timezone.now()
        delivery = owed(endpoint, an_event(), now=now)
        assert send(delivery, now=now).state == "pending"
        assert receiver.received == []
    error = WebhookAttempt.objects.get(delivery=delivery).error
    assert error.startswith("The TLS certificate was not accepted: ")
    assert "IP address mismatch" in error


def test_the_sender_always_verifies_certificates_and_host_names(settings, certificates):
    for bundle in ("", certificates["receiver"][0]):
        settings.WEBHOOK_CA_BUNDLE = bundle
        context = transport.tls_context()
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is True


def test_a_kept_https_connection_the_receiver_closed_is_retried_once_on_a_new_one(
    https_receiver, certificates, settings
):
    # given a kept https connection the receiver closed after its answer, without saying so
    settings.WEBHOOK_CA_BUNDLE = certificates["receiver"][0]
    https_receiver.answer(Answer(drop=True))
    with transport.Sender(2.0) as sender:
        first = sender.post(url=https_receiver.url, body=b"1", headers={})
        assert first.status == 200
        deadline = time.monotonic() + 5
        while https_receiver.closed < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        # when the next request is sent
        second = sender.post(url=https_receiver.url, body=b"2", headers={})
    # then it went once, on a new connection, and was answered
    assert (second.status, second.error) == (200, "")
    assert https_receiver.connections == 2
    assert [r.body for r in https_receiver.received] == [b"1", b"2"]
