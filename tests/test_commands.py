"""Every management command of the project ends a domain error with one line and status 1."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import CommandError

from config.commands import ProjectCommand
from config.exceptions import Conflict
from tags.services import tag_soft_delete
from tests.factories import TagFactory

ROOT = Path(__file__).resolve().parents[1]


# Django's development server, only given a longer accept queue here (config/devserver).
NOT_DOMAIN_COMMANDS = {"runserver"}


def project_commands() -> dict[str, str]:
    """Command name → app, for the commands that live in this repository (not Django's)."""
    return {
        name: app
        for name, app in get_commands().items()
        if name not in NOT_DOMAIN_COMMANDS
        and not app.startswith(("django.", "rest_framework", "drf_", "simple_history"))
        and Path(__import__(app, fromlist=["_"]).__file__).resolve().is_relative_to(ROOT)
        # installed packages (the venv may live inside the checkout)
        and "site-packages" not in Path(__import__(app, fromlist=["_"]).__file__).parts
    }


def test_every_project_command_uses_the_project_base():
    commands = project_commands()
    assert {"seed_demo", "retag", "merge_tags", "issue_token"} <= set(commands)
    for name, app in commands.items():
        assert isinstance(load_command_class(app, name), ProjectCommand), name


@pytest.mark.parametrize("name", sorted(project_commands()))
@pytest.mark.parametrize(
    "error",
    [Conflict("Tag 'vip' is deleted."), ValidationError("Tag 'vip' is deleted.")],
    ids=["DomainError", "ValidationError"],
)
def test_each_command_turns_a_domain_error_into_a_command_error(monkeypatch, name, error):
    # given a command whose work hits a refused change
    command = load_command_class(project_commands()[name], name)

    def refuse(*args, **kwargs):
        raise error

    monkeypatch.setattr(command, "handle", refuse)
    # when it runs, then the operator gets the service's message as a CommandError
    with pytest.raises(CommandError, match=r"^Tag 'vip' is deleted\.$"):
        call_command(command, *REQUIRED_ARGS.get(name, []))


# Commands whose parser refuses to run without these arguments.
REQUIRED_ARGS = {
    "issue_token": ["someone"],
    "merge_tags": ["a", "--into", "b"],
    "export_segment": ["S", "-o", "out.csv"],
}


@pytest.mark.django_db
def test_seed_demo_with_a_deleted_demo_tag_ends_in_a_clear_message():
    # given the demo data's "vip" tag, deleted
    tag_soft_delete(tag=TagFactory(name="vip"), actor=None, reason="gone")
    # when the demo data loads
    with pytest.raises(CommandError) as refused:
        call_command("seed_demo", "--customers", "5")
    # then one clear line, naming the tag
    assert "vip" in str(refused.value)
    assert "deleted" in str(refused.value)


def test_a_command_error_exits_with_status_1_and_no_traceback(tmp_path):
    # given a fresh SQLite database where "vip" is deleted
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "PATH": "/usr/bin:/bin"}
    python = sys.executable
    run = lambda *args: subprocess.run(  # noqa: E731
        [python, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert run("migrate", "--noinput").returncode == 0
    shell = run(
        "shell",
        "-c",
        "from tags.models import Tag; from config.names import name_key; from tags.services import tag_soft_delete;"
        "t = Tag.objects.create(name='vip', name_key=name_key('vip'));"
        "tag_soft_delete(tag=t, actor=None, reason='gone')",
    )
    assert shell.returncode == 0, shell.stderr
    # when
    seeded = run("seed_demo", "--customers", "5")
    # then
    assert seeded.returncode == 1
    assert "Traceback" not in seeded.stderr
    assert seeded.stderr.strip().startswith("CommandError:")
    assert "vip" in seeded.stderr
