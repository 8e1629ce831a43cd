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
