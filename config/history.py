"""Helpers so every write records who made it and why, wherever it comes from."""

from django.db import models


def with_history(instance: models.Model, *, actor, reason: str = "") -> models.Model:
    """Attach the history user and change reason django-simple-history reads on save/delete."""
    instance._history_user = actor if getattr(actor, "is_authenticated", False) else None
    instance._change_reason = reason or None
    return instance
