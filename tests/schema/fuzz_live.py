"""Schemathesis' CLI against a live server started as production starts it.

    .venv/bin/python tests/schema/fuzz_live.py --database postgres   # gunicorn, production settings
    .venv/bin/python tests/schema/fuzz_live.py --database sqlite     # runserver, as `make run`
    .venv/bin/python tests/schema/fuzz_live.py --seed 1 --max-examples 5   # CI: bounded, repeatable

Creates a fresh database, migrates, loads a little demo data, issues a superuser's token, starts
the server on a free loopback port, runs ``schemathesis run --checks all`` with every phase
(examples, coverage, fuzzing, stateful) and exits with schemathesis' status. Expected statuses the
schema cannot express are in tests/schema/schemathesis.toml (each with its reason).
"""

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PYTHON = ROOT / ".venv" / "bin" / "python"
PHASES = "examples,coverage,fuzzing,stateful"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(*args: str, env: dict) -> str:
    result = subprocess.run(
        [str(PYTHON), "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True,
        text=True,
    )  # fmt: skip
    return result.stdout


ISSUE_TOKEN = """
from django.contrib.auth import get_user_model
from config.api.services import token_issue
user, _ = get_user_model().objects.get_or_create(
    username="fuzzer", defaults={"is_superuser": True, "is_staff": True}
)
print(token_issue(user=user, name="schemathesis")[1])
"""


def wait_for(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the server did not answer {url} within {seconds} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seed", type=int, help="fixed seed (CI); default: random")
    parser.add_argument("--max-examples", type=int, default=None)
    parser.add_argument("--max-time", type=int, default=None, help="seconds for the whole run")
    # One worker: with two, schemathesis' threads trip a CPython 3.11 ast.parse race
    # ("AST constructor recursion depth mismatch"), a tool error, not an API answer.
    parser.add_argument("--workers", default="1")
    parser.add_argument("--report-dir", default=None, help="keep JUnit and NDJSON reports here")
    options, extra = parser.parse_known_args()

    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="tagdesk-fuzz-"))
    env = {
        **os.environ,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "API_THROTTLE_RATE": "off",  # the fuzzer's request rate is not what is under test
        # nor the sign-in brake (tests/security), which its invalid-credential checks would trip
        "AUTH_FAILURES_PER_ADDRESS": "1000000",
        "AUTH_FAILURES_PER_USERNAME": "1000000",
        "PYTHONUNBUFFERED": "1",
    }
    pg_name = None
    if options.database == "postgres":
        pg_name = f"tagdesk_fuzz_{os.getpid()}"
        base = os.environ.get("FUZZ_PG_URL", "postgres://postgres@127.0.0.1:5432")
        env["DATABASE_URL"] = f"{base}/{pg_name}"
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", pg_name], check=True)
        # `make serve`: production settings, gunicorn, static files by whitenoise, no TLS on
        # loopback.
        env.update(
            DJANGO_ENV="production", DEBUG="0", SECURE_SSL_REDIRECT="0", SECURE_COOKIES="0",
            WEB_CONCURRENCY="3",
        )  # fmt: skip
        server = [str(ROOT / ".venv" / "bin" / "gunicorn"), "-c", "config/gunicorn.py"]
        server.append("config.wsgi")
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'fuzz.sqlite3'}"
        env["DEBUG"] = "0"  # `make run`
        server = [str(PYTHON), "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]

    process = None
    try:
        manage("migrate", "--noinput", env=env)
        if options.database == "postgres":
            manage("collectstatic", "--noinput", "-v", "0", env=env)
        manage("seed_demo", "--customers", "30", "--if-empty", env=env)
        token = manage("shell", "-c", ISSUE_TOKEN, env=env).strip().splitlines()[-1]
        log = open(tmp / "server.log", "w")  # noqa: SIM115 - open for the server's lifetime
        process = subprocess.Popen(
            server, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        base_url = f"http://127.0.0.1:{port}"
        wait_for(f"{base_url}/healthz", process)

        command = [
            str(ROOT / ".venv" / "bin" / "schemathesis"),
            "--config-file", str(HERE / "schemathesis.toml"),
            "run", f"{base_url}/api/schema/?format=json",
            "-H", f"Authorization: Bearer {token}",
            "--checks", "all",
            "--phases", PHASES,
            "--workers", options.workers,
        ]  # fmt: skip
        if options.seed is not None:
            command += ["--seed", str(options.seed)]
        if options.max_examples is not None:
            command += ["--max-examples", str(options.max_examples)]
        if options.max_time is not None:
            command += ["--max-time", str(options.max_time)]
        if options.report_dir:
            command += ["--report", "junit,ndjson", "--report-dir", options.report_dir]
        command += extra
        print(f"fuzzing {options.database} at {base_url} (server log: {tmp / 'server.log'})")
        return subprocess.run(
            command, cwd=HERE, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        ).returncode
    finally:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        if pg_name:
            subprocess.run(
                ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", pg_name],
                check=False,
            )
        if not os.environ.get("FUZZ_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
