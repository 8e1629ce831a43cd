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
from tags.models import ChangeSet, Tag, TagAssignment
from tags.rules import merge_sources
from tags.selectors import TagMerge
from tags.services.change_sets import change_set_finish, change_set_open
from tags.services.tags import tag_write

History = TagAssignment.history.model


def tags_merge(
    *, sources: list[Tag], into: Tag, actor: AbstractBaseUser | None, reason: str = ""
) -> TagMerge:
    """Merge tags into one, in one transaction: move the assignments (a customer holding both
    keeps one), soft-delete the sources and keep each source's name as an alias of the
    target, so old names still resolve in requests and rules.

    Running it again after it finished changes nothing (and records nothing). Without a
    reason, the history rows say which tags were merged into which. Events: one
    ``tag.merged`` (``sources``, ``into``) and one ``customer.tags_changed`` per customer that
    held a source (its sources removed, the target added where it was written), from the
    history rows of the moves, in one statement.

    Recorded as a change-set of kind ``merge`` (selection ``{"tags": sources}``, add the
    target, remove the sources; counts: customers that held a source, assignments added to
    the target and taken off the sources), finished in this transaction with its
    ``change_set.completed`` event; the history rows and the events above carry its id.
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
        change_set = change_set_open(
            kind=ChangeSet.Kind.MERGE,
            selection={"tags": [t.name for t in todo]},
            add=[into.name],
            remove=[t.name for t in todo],
            reason=why,
            actor=actor,
        )
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
                change_set_id=change_set.pk,
            )
            moved, removed = moved + added, removed + taken
        common = events_common(occurred_at=now, change_set_id=change_set.pk)
        event_record(
            type="tag.merged",
            subject_id=into.pk,
            data={
                "sources": [tag_ref(t) for t in todo],
                "into": tag_ref(into),
                "reason": why,
            },
            change_set_id=change_set.pk,
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
        customers = History.objects.filter(change_set_id=change_set.pk).values("customer_id")
        change_set.total = customers.distinct().count()
        change_set.counts = {
            **change_set.counts,
            "customers": change_set.total,
            "added": moved,
            "removed": removed,
        }
        change_set.save(update_fields=["total", "counts", "updated_at"])
        change_set_finish(change_set=change_set)
    return TagMerge(
        into=into,
        sources=tuple(todo),
        moved=moved,
        removed=removed,
        reason=why,
        change_set=change_set,
    )
