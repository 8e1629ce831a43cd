"""Writes on statuses and status labels (a customer's label changes in customers.services)."""

from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from config.concurrency import key_share, locked_for_write
from config.exceptions import Conflict, InvalidInput
from config.history import with_history
from config.names import name_key
from statuses import selectors
from statuses.models import Status, StatusChange, StatusLabel

DEFAULTS = ("Active", "Inactive", "Suspended")


def statuses_ensure_defaults(sender=None, using: str = "default", **kwargs) -> None:
    """Create Active/Inactive/Suspended (each with a label of the same name) if missing."""
    for name in DEFAULTS:
        status, _ = Status.objects.using(using).get_or_create(
            name_key=name_key(name), defaults={"name": name}
        )
        StatusLabel.objects.using(using).get_or_create(
            name_key=name_key(name), defaults={"name": name, "status": status}
        )
    selectors._default_label_ids.clear()


def _unique_name(model, name: str, exclude=None) -> None:
    if model.objects.filter(name_key=name_key(name)).exclude(pk=exclude).exists():
        raise Conflict(
            f"A {model._meta.verbose_name} named '{name}' already exists.",
            code="duplicate_name",
            attr="name",
        )


def _save(obj, *, actor, reason: str, create: bool):
    with_history(obj, actor=actor, reason=reason)
    try:
        with transaction.atomic():
            obj.save(force_insert=create)
    except IntegrityError:
        raise Conflict(
            f"A {obj._meta.verbose_name} with this name already exists.",
            code="duplicate_name",
            attr="name",
        ) from None
    return obj


def status_save(
    *,
    status: Status | None,
    data: dict[str, Any],
    actor,
    reason: str = "",
    if_match: list[str] | None = None,
) -> Status:
    """Create or change a status; ``if_match`` is checked on the locked row (412)."""
    create = status is None
    with transaction.atomic():
        status = Status() if create else locked_for_write(Status, status.pk, if_match)
        if "name" in data:
            _unique_name(Status, data["name"], exclude=status.pk)
            status.name = data["name"]
        if "description" in data:
            status.description = data["description"] or ""
        _save(status, actor=actor, reason=reason, create=create)
        if "allowed_next" in data:
            status.allowed_next.set(data["allowed_next"])
    return status


def status_delete(
    *, status: Status, actor, reason: str = "", if_match: list[str] | None = None
) -> None:
    with transaction.atomic():
        status = locked_for_write(Status, status.pk, if_match, no_key=False)
        if status.labels.exists():
            raise Conflict(
                f"Status '{status.name}' still has labels; delete or move them first.",
                code="status_in_use",
            )
        with_history(status, actor=actor, reason=reason)
        status.delete()


def label_save(
    *,
    label: StatusLabel | None,
    data: dict[str, Any],
    actor,
    reason: str = "",
    if_match: list[str] | None = None,
) -> StatusLabel:
    """Create or change a label; ``if_match`` is checked on the locked row (412)."""
    create = label is None
    with transaction.atomic():
        label = StatusLabel() if create else locked_for_write(StatusLabel, label.pk, if_match)
        if "name" in data:
            if (
                not create
                and label.name_key == name_key(settings.DEFAULT_STATUS_LABEL)
                and name_key(data["name"]) != label.name_key
            ):
                raise Conflict(
                    f"'{label.name}' is the default label for new customers (DEFAULT_STATUS_LABEL); it cannot be renamed.",
                    code="default_label",
                )
            _unique_name(StatusLabel, data["name"], exclude=label.pk)
            label.name = data["name"]
        if "status" in data:
            if not key_share(Status, data["status"].pk):
                raise InvalidInput(
                    f"No status named '{data['status'].name}'.",
                    code="does_not_exist",
                    attr="status",
                )
            label.status = data["status"]
        if "description" in data:
            label.description = data["description"] or ""
        _save(label, actor=actor, reason=reason, create=create)
        if "allowed_next" in data:
            label.allowed_next.set(data["allowed_next"])
    return label


def label_delete(
    *, label: StatusLabel, actor, reason: str = "", if_match: list[str] | None = None
) -> None:
    with transaction.atomic():
        label = locked_for_write(StatusLabel, label.pk, if_match, no_key=False)
        if label.name_key == name_key(settings.DEFAULT_STATUS_LABEL):
            raise Conflict(
                f"'{label.name}' is the default label for new customers; it cannot be deleted.",
                code="default_label",
            )
        held = label.customers.count()
        if held:
            raise Conflict(
                f"{held} customer(s) hold the label '{label.name}'; move them to another label first.",
                code="label_in_use",
            )
        in_history = f"The label '{label.name}' appears in customers' status history, which is kept for good."
        if (
            StatusChange.objects.filter(to_label=label).exists()
            or StatusChange.objects.filter(from_label=label).exists()
        ):
            raise Conflict(in_history, code="label_in_use")
        with_history(label, actor=actor, reason=reason)
        label.delete()
