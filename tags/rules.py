"""Refusals that reads and writes on tags share: a deleted tag, a merge that cannot be done.

The previews (``tags.selectors``) and the writes (``tags.services``) apply the same checks, so
a dry run refuses exactly what the real run would.
"""

from config.exceptions import Conflict, InvalidInput
from tags.models import Tag


def tag_deleted_error(tag: Tag) -> Conflict:
    """The 409 for using a deleted tag: restore it first, or use the tag it was merged into."""
    if tag.merged_into_id:
        return Conflict(
            f"Tag '{tag.name}' was merged into tag {tag.merged_into_id}; its name is an alias "
            "of that tag now: use it instead.",
            code="customer_tag_merged",
        )
    return Conflict(
        f"Tag '{tag.name}' is deleted; restore it first (POST /api/v1/customer_tags/{tag.id}/restore).",
        code="customer_tag_deleted",
    )


def merge_sources(*, sources: list[Tag], into: Tag) -> list[Tag]:
    """The sources still to merge into ``into``. Refuses a deleted target, a deleted source
    (unless already merged into this target: nothing left to do) and a tag merged into itself."""
    if into.is_deleted:
        raise tag_deleted_error(into)
    todo = []
    for tag in sources:
        if tag.pk == into.pk:
            raise InvalidInput(
                f"Cannot merge '{tag.name}' into itself.", code="invalid", attr="sources"
            )
        if tag.merged_into_id == into.pk:
            continue
        if tag.is_deleted:
            raise tag_deleted_error(tag)
        todo.append(tag)
    return todo
