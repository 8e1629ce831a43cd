"""Browser tests: Debian's Chromium driven by Playwright (pytest-playwright's fixtures) against
pytest-django's live server, which serves static files through staticfiles' handler.

Each test leaves a screenshot of its last page in test-artifacts/ (also when it fails) and fails
on any error in the browser's console (Content-Security-Policy violations included) and on any
request to a host other than the loopback server: every page must work offline.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connection
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "a long browser-test password"
LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}
# Chromium logs a CSP violation to the console too; this makes sure each one is an error there.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """One Chromium for the session. Without it: skip on a laptop, fail in CI."""
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if in_ci():
            pytest.fail(f"{message}; CI must run the browser tests.", pytrace=False)
        pytest.skip(f"{message}: browser tests skipped.")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1440, "height": 900}}


@pytest.fixture
def browser_page(page, request):
    """The page, watched for console errors and refused any non-loopback request, photographed
    when the test ends."""
    errors: list[str] = []
    external: list[str] = []

    def loopback_only(route) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            external.append(route.request.url)
            route.abort()

    page.route("**/*", loopback_only)
    page.add_init_script(REPORT_CSP_VIOLATIONS)
    page.on(
        "console",
        lambda message: (
            errors.append(f"console.error: {message.text} ({message.location.get('url')})")
            if message.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    page.set_default_timeout(10_000)
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    name = request.node.originalname
    shot = ARTIFACTS / f"{name}-{connection.vendor}.png"
    try:
        page.screenshot(path=shot, full_page=True)
    except PlaywrightTimeoutError:  # a page as long as the API reference: its first screen,
        page.screenshot(path=shot, timeout=30_000)  # given time while it still lays out
    assert external == [], "the page asked for something beyond the loopback server"
    assert errors == [], "the browser reported errors"


@pytest.fixture
def desk_user(db):
    """A back-office member (the "Back office" group) who logs in with a password."""
    from django.contrib.auth.models import Group

    from tests.factories import UserFactory

    user = UserFactory(username="desk", is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    user.groups.add(Group.objects.get(name="Back office"))
    return user


def log_in(page, live_server, user) -> None:
    """Through the admin's login form, as a person does."""
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-form input[type=submit]")
    page.wait_for_selector("#user-tools")
