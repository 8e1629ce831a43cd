"""``make run`` serves without debug pages unless asked, and still serves static files."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def make_dry_run(*args: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("needs make")
    # -o: treat install and .env as done, so nothing is installed or written
    result = subprocess.run(
        ["make", "-n", "-o", "install", "-o", ".env", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def test_make_run_has_debug_off_unless_asked_for():
    assert 'export DEBUG="0"' in make_dry_run("run")
    assert 'export DEBUG="1"' in make_dry_run("run", "DEBUG=1")


def test_make_run_overrides_a_debug_line_from_an_older_env_file():
    # .env is sourced first, then DEBUG is exported from make's own variable
    script = make_dry_run("run")
    assert script.index(". ./.env") < script.index('export DEBUG="0"')


def test_the_env_file_no_longer_turns_debug_on():
    recipe = subprocess.run(
        ["make", "-n", "-B", ".env"], cwd=ROOT, capture_output=True, text=True, timeout=60
    ).stdout
    assert "SECRET_KEY" in recipe
    assert "DEBUG" not in recipe


@pytest.mark.django_db
def test_static_files_are_served_with_debug_off(client, settings):
    settings.DEBUG = False
    response = client.get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"/*")


@pytest.mark.django_db
def test_docs_assets_are_served_with_debug_off(client, settings):
    settings.DEBUG = False
    assert (
        client.get("/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js").status_code
        == 200
    )
