"""A client generated from our schema by openapi-python-client works against the live server.

The generator lives in its own venv (its dependencies are not ours), cached under
tests/schema/.tools/ by version; the generated package is installed into a throwaway venv and
client_scenario.py runs there, through the client only, against pytest-django's live server.
"""

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

GENERATOR = "openapi-python-client"
GENERATOR_VERSION = "0.29.1"
HERE = Path(__file__).parent
TOOL_VENV = HERE / ".tools" / f"{GENERATOR}-{GENERATOR_VERSION}"
# To build the generated package into a wheel (its setup.py) without the package index.
BUILD_TOOLS = ("setuptools>=68", "wheel>=0.42")
# The whole generated package, before the shared error components: 79,439 lines.
MAX_CLIENT_LINES = 30_000


def _run(*args: str | Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in args], check=True, capture_output=True, text=True, **kwargs
    )


def _venv_site_packages(venv: Path) -> Path:
    relative = Path(sysconfig.get_path("purelib")).relative_to(sysconfig.get_paths()["data"])
    return venv / relative


def _generator() -> Path:
    """The generator's venv, created once per version (pip needs the package index)."""
    executable = TOOL_VENV / "bin" / GENERATOR
    if not (TOOL_VENV / "bin" / "wheel").exists():
        try:
            _run(sys.executable, "-m", "venv", TOOL_VENV)
            _run(
                TOOL_VENV / "bin" / "pip", "install", "-q", f"{GENERATOR}=={GENERATOR_VERSION}",
                *BUILD_TOOLS,
            )  # fmt: skip
        except subprocess.CalledProcessError as error:
            if os.environ.get("CI"):
                raise
            pytest.skip(f"cannot install {GENERATOR}: {error.stderr[-500:]}")
    return executable


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory) -> tuple[Path, int]:
    """A venv holding the generated client (its dependencies come from the generator's venv,
    which has them: no package index needed), and the client's line count."""
    from drf_spectacular.generators import SchemaGenerator

    generator = _generator()
    work = tmp_path_factory.mktemp("client")
    schema_file = work / "schema.json"
    schema = SchemaGenerator().get_schema(request=None, public=True)
    schema_file.write_text(json.dumps(schema, default=str))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}  # ruff
    output = work / "client"
    generated = _run(
        generator, "generate", "--path", schema_file, "--output-path", output, "--meta", "setup",
        env=env,
    )  # fmt: skip
    assert "Warning" not in generated.stdout + generated.stderr, generated.stdout + generated.stderr
    lines = sum(len(p.read_text().splitlines()) for p in output.rglob("*.py"))

    venv = work / "venv"
    _run(sys.executable, "-m", "venv", venv)
    (_venv_site_packages(venv) / "generator-deps.pth").write_text(
        str(_venv_site_packages(TOOL_VENV)) + "\n"
    )
    _run(
        TOOL_VENV / "bin" / "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
        "--no-index", "--wheel-dir", work / "dist", output,
    )  # fmt: skip
    _run(
        venv / "bin" / "pip",
        "install",
        "-q",
        "--no-deps",
        "--no-index",
        *(work / "dist").glob("*.whl"),
    )
    return venv, lines


def test_generated_client_is_small(client_venv):
    _, lines = client_venv
    assert lines < MAX_CLIENT_LINES


@pytest.mark.django_db(transaction=True)
def test_scenario_through_the_generated_client(client_venv, live_server):
    from config.api.services import token_issue
    from tests.factories import UserFactory

    venv, _ = client_venv
    user = UserFactory(username="integrator", is_superuser=True, is_staff=True)
    _, token = token_issue(user=user, name="generated client")
    result = subprocess.run(
        [venv / "bin" / "python", HERE / "client_scenario.py"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "BASE_URL": live_server.url, "TOKEN": token},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "scenario passed" in result.stdout
