"""The event writers: inside the change's transaction or not at all, set-based for bulk paths,
append-only, pruned past retention."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from ulid import ULID

from config.context import SYSTEM, Actor, acting_as
from config.events.models import AppendOnly, Event
from config.events.services import (
    EventDraft,
    TransactionRequired,
    event_record,
    events_insert_select,
    events_prune,
    events_record_many,
    retention_boundary,
)
from config.fields import new_ulid, ulid_to_uuid
from config.observability import request_id_var

pytestmark = pytest.mark.django_db
OPS = Actor(type="user", id="7", username="ops")


class Boom(Exception):
    pass


def test_an_event_names_the_actor_and_the_request_of_its_context():
    # given a change made by user "ops" in request "req-1"
    customer, tag = new_ulid(), new_ulid()
    token = request_id_var.set("req-1")
    try:
        with acting_as(OPS), transaction.atomic():
            event = event_record(
                type="customer.tags_changed",
                customer_id=customer,
                subject_id=tag,
                data={"added": [{"name": "vip"}], "removed": [], "reason": "import"},
            )
    finally:
        request_id_var.reset(token)
    # then the stored event says who, in which request, about what
    stored = Event.objects.get(pk=event.id)
    assert (stored.actor_type, stored.actor_id, stored.actor_username) == ("user", "7", "ops")
    assert stored.request_id == "req-1"
    assert (stored.customer_id, stored.subject_id, stored.change_set_id) == (customer, tag, None)
    assert stored.data == {"added": [{"name": "vip"}], "removed": [], "reason": "import"}
    assert stored.txid == event.txid > 0


def test_without_a_context_the_actor_is_the_system_and_there_is_no_request_id():
    with transaction.atomic():
        event = event_record(type="tag.created", subject_id=new_ulid())
    stored = Event.objects.get(pk=event.id)
    assert (stored.actor_type, stored.actor_id, stored.actor_username) == ("system", "", "system")
    assert stored.request_id == ""


def test_datetimes_in_data_are_stored_as_iso_strings():
    at = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
    with transaction.atomic():
        event = event_record(type="customer.tags_changed", data={"expires_at": at})
    assert Event.objects.get(pk=event.id).data == {"expires_at": "2026-12-31T23:59:00Z"}


def test_an_unknown_type_is_refused():
    with (
        pytest.raises(ValueError, match=r"Unknown event type 'customer\.tagged'"),
        transaction.atomic(),
    ):
        event_record(type="customer.tagged")
    assert not Event.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "write",
    [
        lambda: event_record(type="tag.created"),
        lambda: events_record_many(events=[EventDraft(type="tag.created")]),
        lambda: events_insert_select(
            type="tag.created",
            select_sql="SELECT NULL AS customer_id, NULL AS subject_id, '{}' AS data",
        ),
    ],
    ids=["event_record", "events_record_many", "events_insert_select"],
)
def test_every_writer_refuses_to_run_outside_a_transaction(write):
    # given autocommit (no transaction.atomic around the call)
    assert not transaction.get_connection().in_atomic_block
    # when an event is written, then it is refused and nothing is stored
    with pytest.raises(TransactionRequired):
        write()
    assert not Event.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_failed_change_leaves_no_event():
    # given a change that records its event, then fails in the same transaction
    def change() -> None:
        with transaction.atomic():
            event_record(type="tag.created", data={"name": "vip"})
            events_record_many(events=[EventDraft(type="tag.updated")] * 3)
            raise Boom

    with pytest.raises(Boom):
        change()
    # then no event survives it, and a change that succeeds afterwards is recorded alone
    assert not Event.objects.exists()
    with transaction.atomic():
        event_record(type="tag.created", data={"name": "vip"})
    assert list(Event.objects.values_list("type", flat=True)) == ["tag.created"]


@pytest.mark.django_db(transaction=True)
def test_a_transaction_s_events_share_a_position_below_every_later_transaction():
    # given two transactions, the first writing three events, the second one
    with transaction.atomic():
        first = [event_record(type="tag.created") for _ in range(3)]
    with transaction.atomic():
        second = event_record(type="tag.updated")
    # then on PostgreSQL the first's events share its transaction id; everywhere, the later
    # transaction's event sorts after all of them
    txids = {event.txid for event in first}
    if connection.vendor == "postgresql":
        assert len(txids) == 1
    assert second.txid > max(txids)
    feed = list(Event.objects.in_feed_order().values_list("id", flat=True))
    assert feed[-1] == second.id
    assert set(feed[:3]) == {event.id for event in first}


def test_many_events_are_written_by_one_statement():
    customers = [new_ulid() for _ in range(250)]
    drafts = [
        EventDraft(type="customer.tags_changed", customer_id=c, data={"added": [{"name": "x"}]})
        for c in customers
    ]
    with acting_as(OPS), transaction.atomic(), CaptureQueriesContext(connection) as queries:
        written = events_record_many(events=drafts, change_set_id=new_ulid())
    assert written == 250
    assert len(queries) == 1
    stored = Event.objects.all()
    assert sorted(stored.values_list("customer_id", flat=True)) == sorted(customers)
    assert {(e.actor_username, e.type) for e in stored} == {("ops", "customer.tags_changed")}
    assert len({e.change_set_id for e in stored}) == 1
    assert len({e.id for e in stored}) == 250


def test_an_insert_select_turns_each_row_into_an_event_in_one_statement():
    # given rows a bulk change produced (here: three customer ids in a VALUES list)
    customers = [new_ulid() for _ in range(3)]
    raw = [
        ulid_to_uuid(c) if connection.features.has_native_uuid_field else ulid_to_uuid(c).hex
        for c in customers
    ]
    if connection.vendor == "postgresql":
        select = (
            "SELECT c AS customer_id, NULL::uuid AS subject_id, "
            "jsonb_build_object('reason', %s::text) AS data FROM unnest(%s::uuid[]) AS c"
        )
        params = ["import", raw]
    else:
        select = (
            "SELECT column1 AS customer_id, NULL AS subject_id, "
            "json_object('reason', %s) AS data FROM (VALUES (%s), (%s), (%s))"
        )
        params = ["import", *raw]
    # when they become events
    with acting_as(SYSTEM), transaction.atomic(), CaptureQueriesContext(connection) as queries:
        written = events_insert_select(
            type="customer.tags_changed", select_sql=select, params=params
        )
    # then one statement wrote one event per row, each with a ULID of its own
    assert written == 3
    assert len(queries) == 1
    stored = list(Event.objects.all())
    assert sorted(e.customer_id for e in stored) == sorted(customers)
    assert {e.data["reason"] for e in stored} == {"import"}
    assert all(ULID.from_str(e.id.upper()) for e in stored)
    assert len({e.id for e in stored}) == 3
    # and their ids carry the time they were written, as the log's prune relies on
    written_at = {ULID.from_str(e.id.upper()).datetime for e in stored}
    assert all(abs(at - datetime.now(UTC)) < timedelta(minutes=1) for at in written_at)


def test_events_are_append_only():
    with transaction.atomic():
        event = event_record(type="tag.created", data={"name": "vip"})
    with pytest.raises(AppendOnly):
        Event.objects.filter(pk=event.id).update(type="tag.deleted")
    with pytest.raises(AppendOnly):
        Event.objects.filter(pk=event.id).delete()
    event.type = "tag.deleted"
    with pytest.raises(AppendOnly):
        event.save()
    with pytest.raises(AppendOnly):
        event.delete()
    assert Event.objects.get(pk=event.id).type == "tag.created"


def _event_written_at(at: datetime) -> str:
    event_id = str(ULID.from_datetime(at)).lower()
    with transaction.atomic():
        Event.objects.create(id=event_id, type="tag.created", actor_type="system")
    return event_id


def test_prune_deletes_what_is_older_than_the_retention_period_in_batches(settings):
    # given events written 40, 31 and 29 days ago and now, with 30 days' retention
    settings.EVENTS_RETENTION_DAYS = 30
    now = datetime.now(UTC)
    old = [_event_written_at(now - timedelta(days=days)) for days in (40, 31, 31, 31)]
    kept = [_event_written_at(now - timedelta(days=29)), _event_written_at(now)]
    # when the log is pruned two at a time
    deleted = events_prune(now=now, batch_size=2)
    # then exactly the old ones are gone
    assert deleted == len(old) == 4
    assert sorted(Event.objects.values_list("id", flat=True)) == sorted(kept)
    # and the boundary is the first id of the cutoff millisecond
    boundary = retention_boundary(now=now)
    assert all(event_id < boundary for event_id in old)
    assert all(event_id >= boundary for event_id in kept)
    # and running it again changes nothing
    assert events_prune(now=now) == 0


def test_the_prune_command_reports_what_it_deleted(settings, capsys):
    settings.EVENTS_RETENTION_DAYS = 30
    _event_written_at(datetime.now(UTC) - timedelta(days=45))
    call_command("prune_events")
    assert "Deleted 1 event(s) older than 30 days." in capsys.readouterr().out
    assert not Event.objects.exists()


def test_the_api_groups_may_read_the_feed_and_nobody_may_write_events():
    # events have a view permission only: nothing to add, change or delete by hand
    assert sorted(
        Permission.objects.filter(content_type__app_label="events").values_list(
            "codename", flat=True
        )
    ) == ["view_event"]
    for name in ("API read-only", "API read-write", "Back office"):
        granted = Group.objects.get(name=name).permissions.filter(content_type__app_label="events")
        assert list(granted.values_list("codename", flat=True)) == ["view_event"], name


def test_prune_refuses_an_empty_batch():
    with pytest.raises(ValueError, match="batch_size"):
        events_prune(batch_size=0)
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        call_command("prune_events", "--batch-size", "0")
