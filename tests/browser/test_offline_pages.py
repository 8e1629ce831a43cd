"""The admin and the API docs render offline under the Content-Security-Policy: the fixture
fails the test on any request beyond the loopback server and on any console error (CSP
violations included)."""

import pytest

from tests.browser.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)
DOCS_TIMEOUT_MS = 30_000


def test_admin_pages_render_offline(live_server, browser_page, desk_user):
    page = browser_page
    page.goto(f"{live_server.url}/admin/login/")
    assert page.locator("#login-form").is_visible()
    log_in(page, live_server, desk_user)  # lands on the index (dashboard)
    assert page.locator("#content-main").is_visible()
    page.goto(f"{live_server.url}/admin/customers/customer/")
    page.wait_for_selector("#changelist")


def test_swagger_ui_renders_offline(live_server, browser_page):
    page = browser_page
    page.goto(f"{live_server.url}/api/docs/")
    # an operation of the schema is listed
    page.locator('.opblock-summary-path[data-path="/api/v1/customers/"]').first.wait_for(
        timeout=DOCS_TIMEOUT_MS
    )


def test_redoc_renders_offline(live_server, browser_page):
    page = browser_page
    page.goto(f"{live_server.url}/api/redoc/")
    # Redoc has loaded the schema and shows its operations (a big page for a shared CPU)
    page.locator("h1", has_text="Tagdesk API").wait_for(timeout=DOCS_TIMEOUT_MS)
    page.locator("h2", has_text="List customers").first.wait_for(timeout=DOCS_TIMEOUT_MS)
