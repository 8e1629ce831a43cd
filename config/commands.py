"""The base of every management command of the project: domain errors end as one line.

Services raise ``DomainError`` (or Django's ``ValidationError``) for anything an operator can
get wrong, such as a deleted tag or a name already taken. Django prints a ``CommandError`` as
one line on stderr and exits with status 1; anything else would be a traceback.

A command acts as ``system`` in what it records (the event log), or as the user named by its
``--user`` option when it has one (looked up when the first event is recorded).
"""

import functools
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from config.context import SYSTEM, Actor, acting_as, actor_for_user
from config.exceptions import DomainError


def command_error(exc: DomainError | ValidationError) -> CommandError:
    """The operator's message for a refused change: the service's own words."""
    if isinstance(exc, ValidationError):
        return CommandError(" ".join(exc.messages))
    return CommandError(str(exc))


class ProjectCommand(BaseCommand):
    """``BaseCommand`` whose domain errors become ``CommandError`` (exit status 1, no traceback)."""

    def execute(self, *args: Any, **options: Any) -> str | None:
        username = options.get("user") if self._has_user_option() else None
        try:
            with acting_as(functools.partial(command_actor, username)):
                return super().execute(*args, **options)
        except (DomainError, ValidationError) as exc:
            raise command_error(exc) from exc

    def _has_user_option(self) -> bool:
        """Whether ``user`` is the ``--user`` option (who acts), not an argument such as
        ``issue_token USER`` (whom the command is about)."""
        parser = self.create_parser("manage.py", type(self).__module__.rsplit(".", 1)[-1])
        return any("--user" in action.option_strings for action in parser._actions)


def command_actor(username: object) -> Actor:
    """The user a command's ``--user`` names, or the system (an unknown name is the
    command's own error to report)."""
    if not isinstance(username, str) or not username:
        return SYSTEM
    user = get_user_model().objects.filter(username=username).first()
    return actor_for_user(user) if user is not None else SYSTEM
