"""The container's HEALTHCHECK probes /healthz with a Host the app accepts.

Docker cannot run here, so the probe's own Python runs against the test client: the request it
builds must get a 200 from an app configured with the same ALLOWED_HOSTS.
"""

import re
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

DOCKERFILE = Path(__file__).resolve().parents[1] / "Dockerfile"


@pytest.mark.parametrize(
    "allowed_hosts",
    ["tagdesk.example.com,other.example.com", ".example.com", "*"],
)
def test_healthcheck_names_an_allowed_host(allowed_hosts, db, client, settings, monkeypatch):
    probe = re.search(r'^HEALTHCHECK CMD python -c "(.*)"$', DOCKERFILE.read_text(), re.M)
    assert probe, "the Dockerfile has no python HEALTHCHECK"
    sent: list[urllib.request.Request] = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda request, timeout: sent.append(request))
    monkeypatch.setenv("ALLOWED_HOSTS", allowed_hosts)
    settings.ALLOWED_HOSTS = allowed_hosts.split(",")

    exec(probe.group(1), {})  # our own Dockerfile's one-liner

    (request,) = sent
    url = urlsplit(request.full_url)
    assert (url.hostname, url.path) == ("127.0.0.1", "/healthz")
    response = client.get(url.path, HTTP_HOST=request.get_header("Host"))
    assert response.status_code == 200, response.content
