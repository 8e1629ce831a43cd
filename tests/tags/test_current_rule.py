"""The "current assignment" rule: the queryset, the SQL conditions and the Python predicates
select exactly the same rows (not expired, tag not deleted)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tags.models import (
    TagAssignment,
    assignment_is_current,
    assignment_is_unexpired,
    current_assignment_sql,
    expired_assignment_sql,
    unexpired_assignment_sql,
)
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory

pytestmark = pytest.mark.django_db

TABLE = TagAssignment._meta.db_table


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def rows(now) -> dict[str, int]:
    """One assignment per case, by name: every expiry (none, past, exactly now, ahead) on a
    live tag and on a deleted one."""
    live, deleted = TagFactory(name="live"), TagFactory(name="gone", is_deleted=True)
    expiries = {
        "none": None,
        "past": now - timedelta(days=1),
        "now": now,
        "ahead": now + timedelta(seconds=1),
    }
    made = {}
    for tag in (live, deleted):
        for name, expires_at in expiries.items():
            customer = CustomerFactory()
            made[f"{tag.name} {name}"] = TagAssignmentFactory(
                customer=customer, tag=tag, expires_at=expires_at
            ).pk
    return made


def by_sql(condition: str, params: list, *, join_tags: bool = False) -> set[int]:
    join = "JOIN tags_tag t ON t.id = a.tag_id" if join_tags else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT a.id FROM {TABLE} a {join} WHERE {condition}", params)
        return {row[0] for row in cursor.fetchall()}


def names(rows: dict[str, int], ids: set[int]) -> set[str]:
    return {name for name, pk in rows.items() if pk in ids}


def test_current_is_unexpired_on_a_live_tag_in_all_three_forms(rows, now):
    expected = {"live none", "live ahead"}
    queryset = set(TagAssignment.objects.current(now).values_list("pk", flat=True))
    sql = by_sql(*current_assignment_sql(assignment="a", tag="t", now=now), join_tags=True)
    python = {
        a.pk
        for a in TagAssignment.objects.select_related("tag")
        if assignment_is_current(expires_at=a.expires_at, tag_is_deleted=a.tag.is_deleted, now=now)
    }
    assert names(rows, queryset) == names(rows, sql) == names(rows, python) == expected


def test_unexpired_and_expired_split_every_row_alike_in_sql_and_orm(rows, now):
    unexpired = {"live none", "live ahead", "gone none", "gone ahead"}
    expired = {"live past", "live now", "gone past", "gone now"}  # an expiry of now has passed
    orm_unexpired = set(TagAssignment.objects.unexpired(now).values_list("pk", flat=True))
    orm_expired = set(TagAssignment.objects.expired(now).values_list("pk", flat=True))
    sql_unexpired = by_sql(*unexpired_assignment_sql("a.expires_at", now))
    sql_expired = by_sql(*expired_assignment_sql("a.expires_at", now))
    python = {
        a.pk
        for a in TagAssignment.objects.all()
        if assignment_is_unexpired(expires_at=a.expires_at, now=now)
    }
    assert names(rows, orm_unexpired) == names(rows, sql_unexpired) == names(rows, python)
    assert names(rows, orm_unexpired) == unexpired
    assert names(rows, orm_expired) == names(rows, sql_expired) == expired
