"""Browser tests: Debian's Chromium driven by Playwright (pytest-playwright's fixtures) against
pytest-django's live server, which serves static files through staticfiles' handler.

Each test leaves a screenshot of its last page in test-artifacts/ (also when it fails) and fails
on any error in the browser's console.
"""

import os
from pathlib import Path

import pytest
from django.db import connection

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
    """The page, watched for console errors, photographed when the test ends."""
    errors: list[str] = []
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
    page.screenshot(path=ARTIFACTS / f"{name}-{connection.vendor}.png", full_page=True)
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
