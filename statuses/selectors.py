"""Reads on statuses."""

from django.conf import settings
from django.db.models import Count, QuerySet

from config.exceptions import InvalidInput
from config.names import name_key
from statuses.models import Status, StatusChange, StatusLabel

_default_label_ids: dict[str, str] = {}


def default_status_label_id() -> str:
    """Id of the label new customers get (settings.DEFAULT_STATUS_LABEL), cached per process.

    The cache cannot go stale: that label can be neither renamed nor deleted (see services).
    """
    name = settings.DEFAULT_STATUS_LABEL
    if name not in _default_label_ids:
        _default_label_ids[name] = StatusLabel.objects.only("id").get(name_key=name_key(name)).id
    return _default_label_ids[name]


def label_by_name(name: str) -> StatusLabel:
    """The label (with its status) of that name in any case or spacing; a missing one is the
    client's error on ``label``, as a status change names its target by name."""
    label = StatusLabel.objects.select_related("status").filter(name_key=name_key(name)).first()
    if label is None:
        raise InvalidInput(f"No status label named '{name}'.", code="invalid_label", attr="label")
    return label


def status_distribution() -> list[dict]:
    """Customers per status (empty statuses too), largest first, as ``{"id", "name",
    "customers"}``: one grouped query."""
    return list(
        Status.objects.annotate(customers=Count("labels__customers"))
        .order_by("-customers", "name")
        .values("id", "name", "customers")
    )


def customer_status_changes(*, customer_id: str) -> QuerySet[StatusChange]:
    """A customer's status changes with the labels, status and author each one shows."""
    return StatusChange.objects.filter(customer_id=customer_id).select_related(
        "from_label", "to_label__status", "created_by"
    )
