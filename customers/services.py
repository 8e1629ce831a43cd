"""Writes on customers (their status label included), shared by the API, the admin and the
commands."""

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from config.concurrency import key_share, locked_for_write
from config.events.services import event_record, field_changes
from config.exceptions import Conflict, InvalidInput, NotFound
from config.history import with_history
from customers.models import Customer
from statuses.models import StatusChange, StatusLabel
from statuses.selectors import label_by_name

WRITABLE_FIELDS = ("reference_id", "name", "email", "mobile", "metadata")
UNIQUE_FIELDS = ("reference_id", "email", "mobile")
DUPLICATE = "Another customer already has this email, mobile or reference_id."


def _check_unique(customer: Customer) -> None:
    """409 naming the first identifier another customer already holds (one query)."""
    wanted = {f: getattr(customer, f) for f in UNIQUE_FIELDS if getattr(customer, f)}
    if not wanted:
        return
    condition = Q()
    for field, value in wanted.items():
        condition |= Q(**{field: value})
    clash = (
        Customer.objects.filter(condition).exclude(pk=customer.pk).values(*UNIQUE_FIELDS).first()
    )
    if clash:
        field = next(f for f, value in wanted.items() if clash[f] == value)
        raise Conflict(
            f"A customer with this {field} already exists.", code="duplicate", attr=field
        )


IDENTITY_FIELDS = ("name", "email", "mobile", "reference_id")


def _save(customer: Customer, *, actor, reason: str, create: bool) -> Customer:
    customer.normalize()
    if not any(getattr(customer, field) for field in IDENTITY_FIELDS):
        # An empty body must not create a nameless, unreachable customer.
        raise InvalidInput(
            "A customer needs at least one of name, email, mobile or reference_id.",
            code="no_identity",
            attr="name",
        )
    _check_unique(customer)
    with_history(customer, actor=actor, reason=reason)
    try:
        with transaction.atomic():
            customer.save(force_insert=create)
    except IntegrityError:
        # Lost a race with a concurrent write of the same identifier.
        raise Conflict(DUPLICATE, code="duplicate") from None
    return customer


def customer_fields(customer: Customer) -> dict[str, Any]:
    """The customer as its events show it (the writable fields)."""
    return {field: getattr(customer, field) for field in WRITABLE_FIELDS}


def customer_create(
    *, data: dict[str, Any], actor: AbstractBaseUser | None, reason: str = ""
) -> Customer:
    """Create a customer, with its history row and a ``customer.created`` event."""
    customer = Customer(**{field: data[field] for field in WRITABLE_FIELDS if field in data})
    with transaction.atomic():
        _save(customer, actor=actor, reason=reason, create=True)
        event_record(
            type="customer.created",
            customer_id=customer.pk,
            subject_id=customer.pk,
            data={"customer": customer_fields(customer), "reason": reason or None},
        )
    return customer


def customer_update(
    *,
    customer: Customer,
    data: dict[str, Any],
    actor: AbstractBaseUser | None,
    reason: str = "",
    if_match: list[str] | None = None,
) -> Customer:
    """Apply the given fields; writes nothing (no history, no event) when nothing changes,
    else a ``customer.updated`` event listing each changed field's old and new value."""
    with transaction.atomic():
        locked = locked_for_write(Customer, customer.pk, if_match, no_key=False)
        before = customer_fields(locked)
        changed = False
        for field in WRITABLE_FIELDS:
            if field in data and getattr(locked, field) != data[field]:
                setattr(locked, field, data[field])
                changed = True
        if changed:
            _save(locked, actor=actor, reason=reason, create=False)
            # normalizing may have turned the new value back into the old one
            if changes := field_changes(before=before, after=customer_fields(locked)):
                event_record(
                    type="customer.updated",
                    customer_id=locked.pk,
                    subject_id=locked.pk,
                    data={"changed": changes, "reason": reason or None},
                )
    return locked


def customer_delete(
    *,
    customer: Customer,
    actor: AbstractBaseUser | None,
    reason: str = "",
    if_match: list[str] | None = None,
) -> None:
    """Delete for good; the history keeps the last state, who deleted it and why, and a
    ``customer.deleted`` event says so (with the customer's last fields)."""
    with transaction.atomic():
        locked = locked_for_write(Customer, customer.pk, if_match, no_key=False)
        event_record(
            type="customer.deleted",
            customer_id=locked.pk,
            subject_id=locked.pk,
            data={"customer": customer_fields(locked), "reason": reason or None},
        )
        with_history(locked, actor=actor, reason=reason)
        locked.delete()


@dataclass
class StatusChangeResult:
    """The recorded change (None when the customer already had the label) and what to tell."""

    change: StatusChange | None
    warnings: list[str] = dataclasses.field(default_factory=list)


def status_reason_check(reason: str | None) -> str:
    """The reason a status change must give, stripped: required, at most 255 characters
    (one rule for one change and for many)."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("A reason is required.", code="required", attr="reason")
    if len(reason) > 255:
        raise InvalidInput("At most 255 characters.", code="max_length", attr="reason")
    return reason


def customer_status_change(
    *,
    customer: Customer,
    label: StatusLabel | str,
    reason: str,
    source: str,
    actor: AbstractBaseUser | None,
    effective_at: datetime | None = None,
    account_id: str | None = None,
    change_set_id: str | None = None,
) -> StatusChangeResult:
    """Move a customer to a label, recording who, why, from where and when.

    Setting the label the customer already has records nothing and says so in a warning.
    ``change_set_id`` names the bulk change this is part of (the admin's "Change status…"):
    the status change row and its ``customer.status_changed`` event carry it.
    """
    reason = status_reason_check(reason)
    target = label if isinstance(label, StatusLabel) else label_by_name(label)
    with transaction.atomic():
        # Lock the customer row alone: with joined rows in a FOR UPDATE, PostgreSQL re-checks
        # the join against the row another change just committed and finds no row at all.
        locked = Customer.objects.select_for_update(no_key=True).filter(pk=customer.pk).first()
        if locked is None:
            raise NotFound("The customer was deleted meanwhile.")
        if not key_share(StatusLabel, target.pk):
            raise InvalidInput(
                f"No status label named '{target.name}'.", code="invalid_label", attr="label"
            )
        current = StatusLabel.objects.select_related("status").get(pk=locked.status_label_id)
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
            change_set_id=change_set_id,
        )
        locked.status_label = target
        with_history(locked, actor=actor, reason=reason)
        locked.save(update_fields=["status_label", "updated_at"])
        event_record(
            type="customer.status_changed",
            customer_id=locked.pk,
            subject_id=locked.pk,
            data={
                "from": {"status": current.status.name, "label": current.name},
                "to": {"status": target.status.name, "label": target.name},
                "reason": reason,
                "source": source,
                "effective_at": change.effective_at,
            },
            change_set_id=change_set_id,
            occurred_at=change.created_at,
        )
    customer.status_label = target
    return StatusChangeResult(change)
