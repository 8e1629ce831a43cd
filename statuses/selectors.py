"""Reads on statuses."""

from django.conf import settings

_default_label_ids: dict[str, str] = {}


def default_status_label_id() -> str:
    """Id of the label new customers get (settings.DEFAULT_STATUS_LABEL), cached per process.

    The cache cannot go stale: that label can be neither renamed nor deleted (see services).
    """
    from statuses.models import StatusLabel, name_key

    name = settings.DEFAULT_STATUS_LABEL
    if name not in _default_label_ids:
        _default_label_ids[name] = StatusLabel.objects.only("id").get(name_key=name_key(name)).id
    return _default_label_ids[name]


def status_distribution() -> list[dict]:
    """Customers per status (empty statuses too), largest first, as ``{"id", "name",
    "customers"}``: one grouped query."""
    from django.db.models import Count

    from statuses.models import Status

    return list(
        Status.objects.annotate(customers=Count("labels__customers"))
        .order_by("-customers", "name")
        .values("id", "name", "customers")
    )
