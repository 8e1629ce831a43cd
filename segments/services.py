"""Segment membership (rules arrive with the segments feature)."""

from customers.models import Customer


def segments_for_tags(*, customer: Customer, tag_names: list[str]) -> list[dict]:
    """Active segments the customer belongs to, with the tags that matched; none exist yet."""
    return []
