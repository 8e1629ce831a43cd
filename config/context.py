"""Who is acting, and in which request: read by writes that record it (the event log).

A request sets the context in middleware (``RequestContextMiddleware``); the actor is resolved
when first asked for, so it names whoever authentication settled on by then: an API token
(``Bearer``/``Token``), a user (Basic, a session in the admin or the browsable API), or nobody.
Management commands and jobs act as ``system``, or as the user a command was given
(``acting_as``). Outside of all of these the actor is ``system``.
"""

import contextvars
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse

from config.api.models import ApiToken
from config.observability import request_id_var

ActorType = Literal["user", "token", "system"]
SYSTEM_USERNAME = "system"


@dataclass(frozen=True)
class Actor:
    """Who made a change: ``type`` user|token|system; ``id`` the user's or token's id."""

    type: ActorType
    id: str | None
    username: str


SYSTEM = Actor(type="system", id=None, username=SYSTEM_USERNAME)


@dataclass(frozen=True)
class _Context:
    request: HttpRequest | None = None
    # an Actor, or what finds it when first asked (a command's user, looked up on demand)
    actor: "Actor | Callable[[], Actor] | None" = None


_context: contextvars.ContextVar[_Context | None] = contextvars.ContextVar(
    "tagdesk_context", default=None
)


def actor_for_user(user: AbstractBaseUser | None) -> Actor:
    """A signed-in user as an actor; anyone else (anonymous, ``None``) is the system."""
    if user is None or not getattr(user, "is_authenticated", False):
        return SYSTEM
    return Actor(type="user", id=str(user.pk), username=user.get_username())


def actor_for_token(token: ApiToken) -> Actor:
    """An API token as an actor: the token's id, its owner's username."""
    return Actor(type="token", id=str(token.pk), username=token.user.get_username())


def _actor_of(request: HttpRequest) -> Actor:
    # DRF sets ``user`` and ``auth`` on the underlying request once it has authenticated.
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiToken):
        return actor_for_token(auth)
    return actor_for_user(getattr(request, "user", None))


def current_actor() -> Actor:
    """The actor of the running request, command or job (``SYSTEM`` when none is known)."""
    context = _context.get()
    if context is None:
        return SYSTEM
    if callable(context.actor):
        return context.actor()
    if context.actor is not None:
        return context.actor
    if context.request is not None:
        return _actor_of(context.request)
    return SYSTEM


def current_request_id() -> str | None:
    """The id of the running request (``X-Request-ID``), ``None`` outside a request."""
    request_id = request_id_var.get()
    return None if request_id in ("", "-") else request_id


@contextmanager
def acting_as(actor: Actor | Callable[[], Actor]) -> Iterator[None]:
    """Run a block (a command, a job) as ``actor``: what it records names that actor. A
    callable is called when the actor is first needed (and its answer kept)."""
    if callable(actor):
        actor = functools.cache(actor)
    token = _context.set(_Context(actor=actor))
    try:
        yield
    finally:
        _context.reset(token)


class RequestContextMiddleware:
    """Make the request the source of the actor for everything its view records."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _context.set(_Context(request=request))
        try:
            return self.get_response(request)
        finally:
            _context.reset(token)
