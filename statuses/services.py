"""Writes on statuses, labels and customers' status labels."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from config.concurrency import locked_for_write
from config.exceptions import Conflict, InvalidInput, NotFound
from config.history import with_history
from customers.models import Customer
from statuses import selectors
from statuses.models import Status, StatusChange, StatusLabel, name_key

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


@dataclass
class StatusChangeResult:
    change: StatusChange | None
    warnings: list[str] = field(default_factory=list)


def label_by_name(name: str) -> StatusLabel:
    label = StatusLabel.objects.select_related("status").filter(name_key=name_key(name)).first()
    if label is None:
        raise InvalidInput(f"No status label named '{name}'.", code="invalid_label", attr="label")
    return label


def customer_status_change(
    *,
    customer: Customer,
    label: StatusLabel | str,
    reason: str,
    source: str,
    actor: AbstractBaseUser | None,
    effective_at: datetime | None = None,
    account_id: str | None = None,
) -> StatusChangeResult:
    """Move a customer to a label, recording who, why, from where and when.

    Setting the label the customer already has records nothing and says so in a warning.
    """
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("A reason is required.", code="required", attr="reason")
    if len(reason) > 255:
        raise InvalidInput("At most 255 characters.", code="max_length", attr="reason")
    target = label if isinstance(label, StatusLabel) else label_by_name(label)
    with transaction.atomic():
        # Lock the customer row alone: with joined rows in a FOR UPDATE, PostgreSQL re-checks
        # the join against the row another change just committed and finds no row at all.
        locked = Customer.objects.select_for_update(no_key=True).filter(pk=customer.pk).first()
        if locked is None:
            raise NotFound("The customer was deleted meanwhile.", code="not_found")
        if not _key_share(StatusLabel, target.pk):
            raise InvalidInput(
                f"No status label named '{target.name}'.", code="invalid_label", attr="label"
            )
        current = StatusLabel.objects.select_related("status").get(pk=locked.status_label_id)
        locked.status_label = current
        if current.pk == target.pk:
            return StatusChangeResult(
                None, [f"The customer already has the label '{target.name}'; nothing changed."]
            )
        allowed = list(current.allowed_next.all()) + list(current.status.allowed_next.all())
        if allowed and target.pk not in {a.pk for a in allowed}:
            names = ", ".join(sorted({a.name for a in allowed}))
            raise Conflict(
                f"A customer labelled '{current.name}' cannot move to '{target.name}'; allowed: {names}.",
                code="transition_not_allowed",
                attr="label",
            )
        change = StatusChange.objects.create(
            customer=locked,
            from_label=current,
            to_label=target,
            reason=reason,
            source=source,
            account_id=account_id or "",
            effective_at=effective_at or timezone.now(),
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        locked.status_label = target
        with_history(locked, actor=actor, reason=reason)
        locked.save(update_fields=["status_label", "updated_at"])
    customer.status_label = target
    return StatusChangeResult(change)


def _key_share(model, pk: str) -> bool:
    """Keep the row from being deleted until this transaction ends; False if it is gone.

    A foreign key would take the same FOR KEY SHARE lock, but only at commit (Django's are
    deferred), where a row deleted meanwhile is an IntegrityError; taken first, a delete
    waits for this transaction (and then sees the row that refers to it) or has already won.
    Shared with any number of writers referring to the same row.
    """
    if connection.vendor != "postgresql":
        return model.objects.filter(pk=pk).exists()  # SQLite: one writer at a time
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {connection.ops.quote_name(model._meta.db_table)} "
            f"WHERE {connection.ops.quote_name(model._meta.pk.column)} = %s FOR KEY SHARE",
            [model._meta.pk.get_db_prep_value(pk, connection)],
        )
        return cursor.fetchone() is not None


# --- the taxonomy ---------------------------------------------------------------------------


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
            if not _key_share(Status, data["status"].pk):
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
