"""Content-Security-Policy on the admin and the docs, whose pages run no inline script and load
nothing from other hosts (the browser tests check the same pages in Chromium)."""

import re

import pytest

pytestmark = pytest.mark.django_db

PAGES = ["/admin/login/", "/admin/", "/admin/customers/customer/", "/api/docs/", "/api/redoc/"]


def fetch(path: str, client, admin_client):
    """The login page as a visitor sees it, the rest as a signed-in superuser."""
    return (client if path == "/admin/login/" else admin_client).get(path)


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {
        name: values
        for name, *values in (part.split() for part in policy.split(";") if part.strip())
    }


@pytest.mark.parametrize("path", PAGES)
def test_pages_carry_a_policy_that_allows_scripts_from_this_site_only(client, admin_client, path):
    response = fetch(path, client, admin_client)
    assert response.status_code == 200
    policy = directives(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_have_no_inline_script_and_no_other_host(client, admin_client, path):
    html = fetch(path, client, admin_client).content.decode()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts, "the page has scripts to check"
    for attributes, body in scripts:
        assert "src=" in attributes, f"inline script in {path}: {body[:80]!r}"
        assert body.strip() == ""
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "a resource from another host"


def test_swagger_ui_start_script_is_served_separately(client):
    response = client.get("/api/docs/?script=")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in response.content.decode()


def test_the_redoc_bundle_asks_nothing_of_a_cdn(client):
    response = client.get("/api/redoc/redoc.standalone.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert b"cdn.redoc.ly" not in response.content
    assert b"Redoc" in response.content
