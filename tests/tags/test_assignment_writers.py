"""The assignment writers called directly, on the database the run uses (the suite runs on
SQLite and again on PostgreSQL): what each method writes, the history rows, what it returns.

``writer`` allows few parameters per statement, so the batched calls below span several
batches.
"""

import sqlite3
import uuid
from collections import Counter
from datetime import UTC, timedelta

import psycopg
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.fields import StoredId, ulid_to_uuid
from customers.models import Customer
from customers.selectors import customer_id_batches
from tags.assignments import (
    MAX_PARAMS,
    AssignmentValues,
    PostgresAssignmentWriter,
    SqliteAssignmentWriter,
    Stamp,
    assignment_writer,
    assignments_change,
    assignments_move,
    customers_over_limit,
)
from tags.models import TagAssignment
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db
History = TagAssignment.history.model
PG = connection.vendor == "postgresql"


def stored(obj) -> StoredId:
    """An object's id as the writers take it."""
    return assignment_writer().stored(obj.pk)


@pytest.fixture
def writer():
    """The run's writer, with room for 25 parameters a statement: batches of a few ids."""
    return type(assignment_writer())(max_params=25)


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def stamp(now):
    return Stamp(user_id=UserFactory(username="ops").pk, reason="spring clean", now=now)


def held() -> set[tuple[str, str]]:
    return set(TagAssignment.objects.values_list("customer_id", "tag__name"))


def history(history_type: str) -> Counter:
    """The writers' history rows of one type (the factories' own saves have no reason)."""
    rows = History.objects.filter(history_type=history_type, history_change_reason="spring clean")
    return Counter(rows.values_list("customer_id", "tag__name"))


def test_the_writer_is_the_databases_own_made_once():
    expected = PostgresAssignmentWriter if PG else SqliteAssignmentWriter
    assert type(assignment_writer()) is expected
    assert assignment_writer() is assignment_writer()


def test_add_writes_missing_and_expired_assignments_with_history(writer, now, stamp):
    a, b = TagFactory(name="a"), TagFactory(name="b")
    c1, c2, c3, c4, c5 = CustomerFactory.create_batch(5)
    TagAssignmentFactory(customer=c1, tag=a, category="old")
    TagAssignmentFactory(customer=c2, tag=a, category="old", expires_at=now)  # expired just now
    ghost = assignment_writer().stored(uuid.uuid4())  # a customer deleted meanwhile
    expiry = now + timedelta(days=3)

    added = writer.add(
        # batches of 3: c4 twice in the second, c1 again in the third
        customers=[*(stored(c) for c in (c1, c2, c3, c4, c5, c4, c1)), ghost],
        tags=[stored(a), stored(b)],
        values=AssignmentValues(category="campaign", source="import", expires_at=expiry),
        stamp=stamp,
    )

    assert added == Counter({stored(a): 4, stored(b): 5})  # c1's current "a" is left alone
    assert held() == {(c.pk, t) for c in (c1, c2, c3, c4, c5) for t in ("a", "b")}
    assert TagAssignment.objects.get(customer=c1, tag=a).category == "old"
    refreshed = TagAssignment.objects.get(customer=c2, tag=a)
    assert (refreshed.category, refreshed.source, refreshed.expires_at) == (
        "campaign", "import", expiry,
    )  # fmt: skip
    assert refreshed.assigned_by_id == stamp.user_id
    assert history("+") == Counter(
        {(c.pk, t): 1 for c in (c1, c2, c3, c4, c5) for t in ("a", "b")} | {(c1.pk, "a"): 0}
    )
    rows = History.objects.filter(history_change_reason="spring clean")
    assert set(rows.values_list("history_type", "history_user_id")) == {("+", stamp.user_id)}
    assert all(row.history_date >= now for row in rows)


def test_add_or_remove_of_nothing_runs_no_statement(writer, stamp):
    customer, tag = CustomerFactory(), TagFactory()
    values = AssignmentValues(category="", source="api", expires_at=None)
    with CaptureQueriesContext(connection) as queries:
        assert writer.add(customers=[], tags=[stored(tag)], values=values, stamp=stamp) == Counter()
        assert writer.add(customers=[stored(customer)], tags=[], values=values, stamp=stamp) == {}
        assert writer.remove(customers=[stored(customer)], tags=[], stamp=stamp) == Counter()
    assert len(queries) == 0


def test_remove_takes_off_unexpired_assignments_only_with_history(writer, now, stamp):
    a, b = TagFactory(name="a"), TagFactory(name="b")
    c1, c2, c3, c4 = CustomerFactory.create_batch(4)
    TagAssignmentFactory(customer=c1, tag=a, category="crm")
    TagAssignmentFactory(customer=c1, tag=b)
    TagAssignmentFactory(customer=c2, tag=a, expires_at=now - timedelta(days=1))
    TagAssignmentFactory(customer=c3, tag=a, expires_at=now + timedelta(days=1))

    removed = writer.remove(
        customers=[stored(c) for c in (c1, c2, c3, c4)], tags=[stored(a)], stamp=stamp
    )

    assert removed == Counter({stored(a): 2})
    assert held() == {(c1.pk, "b"), (c2.pk, "a")}  # the expired one waits for expire_tags
    assert history("-") == Counter({(c1.pk, "a"): 1, (c3.pk, "a"): 1})
    gone = History.objects.get(history_type="-", customer_id=c1.pk)
    assert (gone.category, gone.history_user_id, gone.history_change_reason) == (
        "crm", stamp.user_id, "spring clean",
    )  # fmt: skip


def test_move_keeps_a_current_target_and_replaces_an_expired_one(writer, now, stamp):
    source, target = TagFactory(name="source"), TagFactory(name="target")
    c1, c2, c3, c4 = CustomerFactory.create_batch(4)
    TagAssignmentFactory(customer=c1, tag=source, category="crm")
    TagAssignmentFactory(customer=c2, tag=source, category="from source")
    TagAssignmentFactory(customer=c2, tag=target, category="own")
    TagAssignmentFactory(customer=c3, tag=source, category="from source")
    TagAssignmentFactory(customer=c3, tag=target, category="own", expires_at=now)
    TagAssignmentFactory(customer=c4, tag=target)

    moved = writer.move(source=stored(source), target=stored(target), stamp=stamp)

    assert moved == (2, 3)
    assert held() == {(c.pk, "target") for c in (c1, c2, c3, c4)}
    categories = dict(TagAssignment.objects.values_list("customer_id", "category"))
    assert categories == {c1.pk: "crm", c2.pk: "own", c3.pk: "from source", c4.pk: ""}
    assert history("+") == Counter({(c1.pk, "target"): 1, (c3.pk, "target"): 1})
    assert history("-") == Counter({(c.pk, "source"): 1 for c in (c1, c2, c3)})


def test_over_limit_counts_current_assignments_only(writer, now):
    tags = TagFactory.create_batch(3)
    deleted = TagFactory(is_deleted=True)
    full, with_expired, with_deleted, under = CustomerFactory.create_batch(4)
    for tag in tags:
        TagAssignmentFactory(customer=full, tag=tag)
    for customer in (with_expired, with_deleted):
        for tag in tags[:2]:
            TagAssignmentFactory(customer=customer, tag=tag)
    TagAssignmentFactory(customer=with_expired, tag=tags[2], expires_at=now)
    TagAssignmentFactory(customer=with_deleted, tag=deleted)
    TagAssignmentFactory(customer=under, tag=tags[0])
    customers = [stored(c) for c in (under, with_expired, with_deleted, full)]

    assert writer.over_limit(customers, limit=2, now=now) == [stored(full)]
    assert writer.over_limit(customers, limit=3, now=now) == []


def test_over_limit_names_five_at_most(writer, now):
    tag = TagFactory()
    customers = CustomerFactory.create_batch(7)
    for customer in customers:
        TagAssignmentFactory(customer=customer, tag=tag)
    over = writer.over_limit([stored(c) for c in customers], limit=0, now=now)
    assert len(over) == 5
    assert set(over) <= {stored(c) for c in customers}


def test_near_limit_counts_assignments_of_any_kind_before_a_bulk_add(writer, now):
    tags = TagFactory.create_batch(3)
    near, far = CustomerFactory.create_batch(2)
    TagAssignmentFactory(customer=near, tag=tags[0])
    TagAssignmentFactory(customer=near, tag=tags[1], expires_at=now)  # counted all the same
    TagAssignmentFactory(customer=far, tag=tags[2])
    customers = [stored(near), stored(far)]
    found = writer.near_limit(customers, adding=2, limit=3)
    if PG:
        assert found == [stored(near)]
        assert writer.near_limit(customers, adding=0, limit=3) == []
    else:
        assert found is None  # SQLite counts every customer after the write instead


def test_delete_by_ids_returns_the_rows_and_record_history_writes_them(writer, now, stamp):
    customer, tag = CustomerFactory(), TagFactory()
    expiry = now + timedelta(hours=5)
    assignments = [
        TagAssignmentFactory(customer=customer, tag=tag, category="crm", expires_at=expiry),
        *TagAssignmentFactory.create_batch(20),
    ]
    small = type(writer)(max_params=12)  # two ids a statement

    rows = small.delete_by_ids([a.pk for a in assignments])

    assert not TagAssignment.objects.exists()
    assert sorted(row.id for row in rows) == sorted(a.pk for a in assignments)
    first = next(row for row in rows if row.id == assignments[0].pk)
    assert (first.customer_id, first.tag_id, first.category, first.source) == (
        customer.pk, tag.pk, "crm", "api",
    )  # fmt: skip
    assert (first.expires_at, first.created_at) == (expiry, assignments[0].created_at)
    assert first.expires_at.tzinfo is not None

    history_ids = small.record_history({"-": rows}, stamp)

    written = History.objects.filter(history_type="-")
    assert sorted(written.values_list("id", flat=True)) == sorted(row.id for row in rows)
    # the ids of every batch's history rows come back (the events are built from them)
    assert sorted(history_ids) == sorted(written.values_list("history_id", flat=True))
    again = written.get(id=first.id)
    assert (again.customer_id, again.tag_id, again.expires_at, again.history_date) == (
        customer.pk, tag.pk, expiry, now,
    )  # fmt: skip
    assert (again.history_user_id, again.history_change_reason) == (stamp.user_id, "spring clean")


@pytest.mark.django_db(transaction=True)
def test_lock_customers_holds_their_rows_until_the_transaction_ends(writer):
    locked, free = CustomerFactory.create_batch(2)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        writer.lock_customers([stored(locked)])
        if not PG:
            assert len(queries) == 0  # SQLite's one write lock already serialises writers
            return
        params = connection.get_connection_params()
        with psycopg.connect(**params, autocommit=True) as other:
            table = Customer._meta.db_table
            grab = f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE NOWAIT"
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute(grab, [ulid_to_uuid(locked.pk)])
            assert other.execute(grab, [ulid_to_uuid(free.pk)]).fetchone() == (1,)


# --- the boundary: ids as callers hold them ----------------------------------------------------


def test_stored_ids_are_the_columns_own_text():
    customer = CustomerFactory()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT CAST(id AS text) FROM {Customer._meta.db_table}")
        assert cursor.fetchone()[0] == stored(customer)
    assert type(stored(customer)) is StoredId


def test_ulid_strings_and_stored_ids_alike_and_counts_by_the_callers_tag_ids(now):
    tag = TagFactory()
    by_ulid, by_stored = CustomerFactory.create_batch(2)
    changed, _ = assignments_change(
        customer_ids=[by_ulid.pk, stored(by_stored)], add_tag_ids=[tag.pk], remove_tag_ids=[],
        category="", source="api", expires_at=None, user_id=None, reason="", now=now,
    )  # fmt: skip
    assert changed.by_tag == Counter({tag.pk: 2})
    _, removed = assignments_change(
        customer_ids=[stored(by_ulid), by_stored.pk], add_tag_ids=[], remove_tag_ids=[tag.pk],
        category="", source="", expires_at=None, user_id=None, reason="", now=now,
    )  # fmt: skip
    assert removed.by_tag == Counter({tag.pk: 2})


@pytest.mark.parametrize("text", [str, lambda u: u.hex], ids=["uuid text", "hex"])
def test_a_plain_string_that_is_not_a_ulid_is_refused_not_guessed(now, text):
    tag, customer = TagFactory(), CustomerFactory()
    with pytest.raises(ValueError, match="26 characters"):
        assignments_change(
            customer_ids=[text(ulid_to_uuid(customer.pk))], add_tag_ids=[tag.pk],
            remove_tag_ids=[], category="", source="api", expires_at=None, user_id=None,
            reason="", now=now,
        )  # fmt: skip
    assert not TagAssignment.objects.exists()


def test_customer_id_batches_feed_the_writers_as_they_are(now):
    tag = TagFactory()
    customers = CustomerFactory.create_batch(5)
    batches = list(customer_id_batches(Customer.objects.all(), batch_size=2))
    assert [len(batch) for batch in batches] == [2, 2, 1]
    assert [id_ for batch in batches for id_ in batch] == sorted(stored(c) for c in customers)
    assert all(type(id_) is StoredId for batch in batches for id_ in batch)
    for batch in batches:
        assignments_change(
            customer_ids=batch, add_tag_ids=[tag.pk], remove_tag_ids=[], category="",
            source="bulk", expires_at=None, user_id=None, reason="", now=now,
        )  # fmt: skip
    assert held() == {(c.pk, tag.name) for c in customers}


def test_over_limit_and_move_answer_in_ulids_and_counts(now):
    tag, other = TagFactory(), TagFactory()
    customer = CustomerFactory()
    TagAssignmentFactory(customer=customer, tag=tag)
    TagAssignmentFactory(customer=customer, tag=other)
    assert customers_over_limit(customer_ids=[stored(customer)], limit=1, now=now) == [customer.pk]
    moved = assignments_move(
        from_tag_id=tag.pk, to_tag_id=other.pk, user_id=None, reason="", now=now
    )
    assert moved == (0, 1)


def test_no_statement_carries_more_parameters_than_the_writer_allows(now, stamp):
    assignments = TagAssignmentFactory.create_batch(21)
    ids = [a.pk for a in assignments]
    # 12 parameters a statement: the DELETE by ids (10 kept in reserve) takes two ids at a time
    with CaptureQueriesContext(connection) as queries:
        rows = type(assignment_writer())(max_params=12).delete_by_ids(ids)
    deletes = [q["sql"] for q in queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 11
    # 26 parameters a statement: two history rows (13 columns each) at a time
    with CaptureQueriesContext(connection) as queries:
        type(assignment_writer())(max_params=26).record_history({"-": rows[:5]}, stamp)
    inserts = [q["sql"] for q in queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 3
    assert History.objects.filter(history_type="-").count() == 5


def test_a_writer_allows_its_databases_parameters_per_statement_at_most_max_params():
    if PG:
        assert PostgresAssignmentWriter().max_params() == MAX_PARAMS
        return
    raw = connection.connection
    limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    assert SqliteAssignmentWriter().max_params() == min(MAX_PARAMS, limit)
    # an old SQLite build allowing 999 variables
    raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    try:
        assert SqliteAssignmentWriter().max_params() == 999
    finally:
        raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)


def test_near_limit_finds_the_customers_of_every_batch_and_none_when_adding_nothing(writer, now):
    if not PG:
        pytest.skip("SQLite counts every customer after the write instead")
    tags = TagFactory.create_batch(2)
    near, *others = CustomerFactory.create_batch(30)  # the writer takes 15 a statement
    for tag in tags:
        TagAssignmentFactory(customer=near, tag=tag)
    customers = [stored(near), *(stored(c) for c in others)]
    with CaptureQueriesContext(connection) as queries:
        assert writer.near_limit(customers, adding=1, limit=2) == [stored(near)]
    assert len(queries) == 2
    assert writer.near_limit(customers, adding=0, limit=1) == []


def test_lock_customers_locks_a_statement_of_ids_at_a_time(writer):
    customers = CustomerFactory.create_batch(30)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        writer.lock_customers([stored(c) for c in customers])
    assert len(queries) == (2 if PG else 0)  # 15 ids a statement on PostgreSQL


@pytest.mark.parametrize("writer_class", [SqliteAssignmentWriter, PostgresAssignmentWriter])
def test_returned_rows_keep_aware_times_and_read_naive_ones_as_utc(writer_class):
    # PostgreSQL hands timestamps back aware, SQLite naive (in UTC): both come out the same
    aware = timezone.now().replace(microsecond=0)
    naive = aware.astimezone(UTC).replace(tzinfo=None)
    customer, tag = uuid.uuid4(), uuid.uuid4()
    for at in (aware, naive):
        row = writer_class()._row((7, customer, tag, "loyalty", "api", at, None, at))
        assert (row.expires_at, row.created_at) == (aware, aware)
        assert row.expires_at.utcoffset() == timedelta(0)


def test_over_limit_looks_past_batches_with_nobody_over(writer, now):
    # given customers in id order, only the last two holding more than one tag
    customers = sorted(CustomerFactory.create_batch(6), key=lambda c: c.pk)
    tags = TagFactory.create_batch(2)
    for customer in customers:
        TagAssignmentFactory(customer=customer, tag=tags[0])
    for customer in customers[-2:]:
        TagAssignmentFactory(customer=customer, tag=tags[1])
    small = type(writer)(max_params=12)  # two customers a batch: the first two batches clean
    over = small.over_limit([stored(c) for c in customers], limit=1, now=now)
    assert sorted(over) == sorted(stored(c) for c in customers[-2:])


def statements(queries, prefix: str) -> int:
    return sum(1 for q in queries if q["sql"].lstrip().upper().startswith(prefix.upper()))


def test_an_add_only_change_deletes_nothing_and_a_remove_only_one_inserts_no_assignment(now):
    customer, tag = CustomerFactory(), TagFactory()
    change = {
        "customer_ids": [customer.pk], "category": "", "source": "api", "expires_at": None,
        "user_id": None, "reason": "", "now": now,
    }  # fmt: skip
    table = TagAssignment._meta.db_table
    with CaptureQueriesContext(connection) as adding:
        assignments_change(add_tag_ids=[tag.pk], remove_tag_ids=[], **change)
    with CaptureQueriesContext(connection) as removing:
        assignments_change(add_tag_ids=[], remove_tag_ids=[tag.pk], **change)
    if not PG:  # PostgreSQL: one statement either way, its parts inside
        assert statements(adding.captured_queries, "DELETE") == 0
        assert statements(removing.captured_queries, f'INSERT INTO "{table}"') == 0
        assert statements(removing.captured_queries, f"INSERT INTO {table}") == 0
    assert not TagAssignment.objects.exists()
    assert list(History.objects.values_list("history_type", flat=True).order_by("history_id")) == [
        "+", "-",
    ]  # fmt: skip


def test_a_change_naming_no_tag_runs_no_statement(now, django_assert_num_queries):
    customer = CustomerFactory()
    with django_assert_num_queries(0):
        added, removed = assignments_change(
            customer_ids=[customer.pk], add_tag_ids=[], remove_tag_ids=[], category="",
            source="", expires_at=None, user_id=None, reason="", now=now,
        )  # fmt: skip
    assert (added.by_tag, removed.by_tag) == (Counter(), Counter())
