"""Jobs the tests enqueue (a worker imports them by path, like the project's own)."""

from django.db import transaction

from config.events.services import event_record
from config.jobs import job


@job
def fail(message: str) -> None:
    raise RuntimeError(message)


@job
def record_event() -> str:
    with transaction.atomic():
        return event_record(type="tag.created").id
