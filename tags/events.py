"""What the tag events say (``tag.*``); the services write them in the change's transaction."""

from tags.models import Tag

# The fields a tag event shows; a tag's description (up to 10,000 characters) and metadata
# are left to GET /customer_tags/{id}, an event stays small.
SNAPSHOT_FIELDS = ("name", "reference_id", "is_active")
CHANGE_FIELDS = ("name", "reference_id", "description", "is_active", "metadata")


def tag_snapshot(tag: Tag) -> dict:
    """The tag as an event names it."""
    return {field: getattr(tag, field) for field in SNAPSHOT_FIELDS}


def tag_created_data(tag: Tag, reason: str) -> dict:
    return {"tag": tag_snapshot(tag), "reason": reason or None}


def tag_fields(tag: Tag) -> dict:
    """The fields whose changes a ``tag.updated`` event lists."""
    return {field: getattr(tag, field) for field in CHANGE_FIELDS}


def tag_ref(tag: Tag) -> dict:
    return {"tag_id": tag.pk, "name": tag.name}
