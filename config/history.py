"""Helpers so every write records who made it and why, wherever it comes from."""

from django.db import models

from config.fields import ULIDField


def with_history(instance: models.Model, *, actor, reason: str = "") -> models.Model:
    """Attach the history user and change reason django-simple-history reads on save/delete."""
    instance._history_user = actor if getattr(actor, "is_authenticated", False) else None
    instance._change_reason = reason or None
    return instance


class ChangeSetHistory(models.Model):
    """Base of a history model whose rows a bulk change writes: the change-set that wrote
    each row (a plain ULID like the events' ``change_set_id``: the change-sets live on a
    higher floor, and a history row outlives them), so a revert finds exactly its rows."""

    change_set_id = ULIDField(null=True, blank=True, db_index=True, editable=False)

    class Meta:
        abstract = True
