"""Writes on customers, shared by the API, the admin and the commands."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q

from config.concurrency import locked_for_write
from config.exceptions import Conflict, InvalidInput
from config.history import with_history
from customers.models import Customer

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


def customer_create(
    *, data: dict[str, Any], actor: AbstractBaseUser | None, reason: str = ""
) -> Customer:
    customer = Customer(**{field: data[field] for field in WRITABLE_FIELDS if field in data})
    return _save(customer, actor=actor, reason=reason, create=True)


def customer_update(
    *,
    customer: Customer,
    data: dict[str, Any],
    actor: AbstractBaseUser | None,
    reason: str = "",
    if_match: list[str] | None = None,
) -> Customer:
    """Apply the given fields; writes nothing (and no history) when nothing changes."""
    with transaction.atomic():
        locked = locked_for_write(Customer, customer.pk, if_match, no_key=False)
        changed = False
        for field in WRITABLE_FIELDS:
            if field in data and getattr(locked, field) != data[field]:
                setattr(locked, field, data[field])
                changed = True
        if changed:
            _save(locked, actor=actor, reason=reason, create=False)
    return locked


def customer_delete(
    *,
    customer: Customer,
    actor: AbstractBaseUser | None,
    reason: str = "",
    if_match: list[str] | None = None,
) -> None:
    """Delete for good; the history keeps the last state, who deleted it and why."""
    with transaction.atomic():
        locked = locked_for_write(Customer, customer.pk, if_match, no_key=False)
        with_history(locked, actor=actor, reason=reason)
        locked.delete()
