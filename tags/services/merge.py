"""Merging tags into one: the assignments move, the sources become aliases of the target.

Segment rules naming the sources are rewritten by ``segments.services.tags_merge_with_rules``,
which calls this in the same transaction (tags know nothing of segments).
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from tags.assignments import assignments_move
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
    say which tags were merged into which.
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
        for tag in todo:
            added, taken = assignments_move(
                from_tag_id=tag.pk, to_tag_id=into.pk, user_id=user_id, reason=why, now=now
            )
            moved, removed = moved + added, removed + taken
        Tag.objects.filter(merged_into_id__in=[t.pk for t in todo]).update(merged_into=into)
        for tag in todo:
            tag.is_deleted, tag.deleted_at, tag.merged_into = True, now, into
            tag_write(tag, actor=actor, reason=why, create=False)
        tag_write(into, actor=actor, reason=why, create=False)
    return TagMerge(into=into, sources=tuple(todo), moved=moved, removed=removed, reason=why)
