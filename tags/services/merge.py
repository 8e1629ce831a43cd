"""Merging tags into one: the assignments move, the sources become aliases of the target.

Segment rules naming the sources are rewritten by ``segments.services.tags_merge_with_rules``,
which calls this in the same transaction (tags know nothing of segments).
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from config.events.services import event_record, events_common
from tags.assignments import ChangeEvents, assignments_events_from_history, assignments_move
from tags.events import tag_ref
from tags.models import Tag
from tags.rules import merge_sources
from tags.selectors import TagMerge
from tags.services.tags import tag_write


def tags_merge(
    *, sources: list[Tag], into: Tag, actor: AbstractBaseUser | None, reason: str = ""
) -> TagMerge:
    """Merge tags into one, in one transaction: move the assignments (a customer holding both
    keeps one), soft-delete the sources and keep each source's name as an alias of the
    target, so old names still resolve in requests and rules.

    Running it again after it finished changes nothing. Without a reason, the history rows
    say which tags were merged into which. Events: one ``tag.merged`` (``sources``, ``into``)
    and one ``customer.tags_changed`` per customer that held a source (its sources removed,
    the target added where it was written), from the history rows of the moves, in one
    statement.
    """
    with transaction.atomic():
        locked = {
            t.pk: t
            for t in Tag.objects.select_for_update()
            .filter(pk__in=[into.pk, *(t.pk for t in sources)])
            .order_by("pk")
        }
        into = locked[into.pk]
        todo = merge_sources(sources=[locked[t.pk] for t in sources], into=into)
        if not todo:
            return TagMerge(into=into, sources=())
        names = ", ".join(f"'{t.name}'" for t in todo)
        why = reason or f"merged {names} into '{into.name}'"
        user_id = actor.pk if getattr(actor, "is_authenticated", False) else None
        now = timezone.now()
        moved = removed = 0
        history_ids: list[int] = []
        for tag in todo:
            added, taken = assignments_move(
                from_tag_id=tag.pk,
                to_tag_id=into.pk,
                user_id=user_id,
                reason=why,
                now=now,
                history_ids=history_ids,
            )
            moved, removed = moved + added, removed + taken
        common = events_common(occurred_at=now)
        event_record(
            type="tag.merged",
            subject_id=into.pk,
            data={
                "sources": [tag_ref(t) for t in todo],
                "into": tag_ref(into),
                "reason": why,
            },
            occurred_at=now,
        )
        assignments_events_from_history(
            history_ids=history_ids,
            events=ChangeEvents(
                names={t.pk: t.name for t in [*todo, into]}, reason=why, common=common
            ),
        )
        Tag.objects.filter(merged_into_id__in=[t.pk for t in todo]).update(merged_into=into)
        for tag in todo:
            tag.is_deleted, tag.deleted_at, tag.merged_into = True, now, into
            tag_write(tag, actor=actor, reason=why, create=False)
        tag_write(into, actor=actor, reason=why, create=False)
    return TagMerge(into=into, sources=tuple(todo), moved=moved, removed=removed, reason=why)
