"""The customer admin: list with tags, filters, bulk tag actions, inline tags, history."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers import admin as customer_admin
from customers import services as customer_services
from customers.models import Customer
from customers.selectors import customer_id_batches
from customers.services import customer_status_change
from segments import services as segment_services
from statuses.models import StatusChange, StatusLabel
from tags import services as tag_services
from tags.models import ChangeSet, Tag, TagAssignment
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/customers/customer/"


def measured(client, *args, **kwargs):
    """A request and its queries, with the tag filter's short-lived cache empty."""
    cache.clear()
    with CaptureQueriesContext(connection) as queries:
        response = client(*args, **kwargs)
    return response, len(queries), queries.captured_queries


def tag_filter_of(response):
    return next(
        f for f in response.context["cl"].filter_specs if getattr(f, "parameter_name", "") == "tag"
    )


def listed(response) -> list[str]:
    return sorted(str(c.pk) for c in response.context["cl"].result_list)


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def tag_names(customer: Customer) -> list[str]:
    return sorted(
        TagAssignment.objects.current()
        .filter(customer=customer)
        .values_list("tag__name", flat=True)
    )


# --- the list --------------------------------------------------------------------------------


def test_list_shows_current_tags_with_the_same_queries_for_5_and_40_customers(
    boss, django_assert_max_num_queries
):
    tags = [TagFactory(name=f"t{i}") for i in range(4)]
    gone = TagFactory(name="gone", is_deleted=True, deleted_at=timezone.now())

    def add_customers(n: int) -> None:
        for customer in CustomerFactory.create_batch(n):
            for tag in tags[: 1 + len(customer.pk) % 3]:
                TagAssignmentFactory(customer=customer, tag=tag)
            TagAssignmentFactory(customer=customer, tag=gone)
            expired = TagFactory()
            TagAssignmentFactory(
                customer=customer, tag=expired, expires_at=timezone.now() - timedelta(days=1)
            )

    counts = []
    for n in (5, 35):
        add_customers(n)
        response, count, _ = measured(boss.get, CHANGELIST)
        counts.append(count)
        assert response.status_code == 200
    assert counts[0] == counts[1]
    cache.clear()
    with django_assert_max_num_queries(counts[0]):
        response = boss.get(CHANGELIST)
    shown = {c.pk: c for c in response.context["cl"].result_list}
    assert len(shown) == 40
    for pk, customer in shown.items():
        column = customer_admin.CustomerAdmin.tag_list(None, customer)
        assert [t.name for t in tags if f">{t.name}<" in column] == tag_names(Customer(pk=pk))
        assert "gone" not in column


def test_filter_by_tag_takes_an_id_or_a_name_and_lists_the_most_used_tags(boss):
    vip, other = TagFactory(name="VIP"), TagFactory(name="Other")
    holders = CustomerFactory.create_batch(2)
    for customer in holders:
        TagAssignmentFactory(customer=customer, tag=vip)
    TagAssignmentFactory(tag=other)
    expected = sorted(str(c.pk) for c in holders)

    assert listed(boss.get(CHANGELIST, {"tag": vip.pk})) == expected
    assert listed(boss.get(CHANGELIST, {"tag": "  vip "})) == expected
    page = boss.get(CHANGELIST, {"tag": vip.pk})
    assert b'id="tag-filter-input"' in page.content
    tag_filter = tag_filter_of(page)
    assert [name for _, name in tag_filter.lookup_choices] == ["VIP", "Other"]  # most used first

    unknown = boss.get(CHANGELIST, {"tag": "nobody-has-this"})
    assert listed(unknown) == []
    assert "No tag is named or numbered 'nobody-has-this'." in messages_of(unknown)


def test_filter_by_tag_keeps_the_other_filters_in_its_box(boss):
    active = StatusLabel.objects.get(name="Active").status
    page = boss.get(CHANGELIST, {"status_label__status__id__exact": active.pk, "q": "ada"})
    tag_filter = tag_filter_of(page)
    assert sorted(tag_filter.other_params) == [
        ("q", "ada"),
        ("status_label__status__id__exact", str(active.pk)),
    ]


def test_filter_by_segment_and_by_status(boss):
    gold = TagFactory(name="gold")
    members = CustomerFactory.create_batch(2)
    for customer in members:
        TagAssignmentFactory(customer=customer, tag=gold)
    outsider = CustomerFactory()
    segment = segment_services.segment_save(
        segment=None, data={"name": "Gold", "rule": {"all": ["gold"]}}, actor=None
    )
    assert listed(boss.get(CHANGELIST, {"segment": segment.pk})) == sorted(
        str(c.pk) for c in members
    )

    suspended = StatusLabel.objects.get(name="Suspended")
    customer_status_change(
        customer=outsider, label=suspended, reason="fraud", source="API", actor=None
    )
    by_status = boss.get(CHANGELIST, {"status_label__status__id__exact": suspended.status_id})
    assert listed(by_status) == [str(outsider.pk)]


# --- Add tags… / Remove tags… ------------------------------------------------------------------


def post_action(client, action: str, ids, query: str = "", **data):
    return client.post(f"{CHANGELIST}{query}", {"action": action, "_selected_action": ids, **data})


def test_add_tags_asks_first_then_tags_with_reason_and_creates_missing_tags(boss):
    vip = TagFactory(name="VIP")
    customers = CustomerFactory.create_batch(3)
    TagAssignmentFactory(customer=customers[0], tag=vip)
    ids = [c.pk for c in customers]

    page = post_action(boss, "add_tags", ids)
    assert page.status_code == 200
    assert b"Add tags to 3 customers" in page.content
    assert TagAssignment.objects.count() == 1  # nothing yet

    done = post_action(
        boss, "add_tags", ids, apply="1", tags="vip, Brand New", reason="spring campaign",
        create_missing="on",
    )  # fmt: skip
    assert done.status_code == 302
    assert [tag_names(c) for c in customers] == [["Brand New", "VIP"]] * 3
    added = TagAssignment.history.filter(history_type="+", history_change_reason="spring campaign")
    assert added.count() == 5  # the existing VIP is not re-added
    assert {(r.history_user_id, r.source) for r in added} == {(boss.user.pk, "admin")}
    assert messages_of(done)[:2] == [
        "Added 5 tag assignments on 3 selected customers (Brand New: 3, VIP: 2).",
        "Created tag(s): Brand New.",
    ]


def test_add_tags_without_create_missing_refuses_unknown_names_and_writes_nothing(boss):
    customer = CustomerFactory()
    page = post_action(boss, "add_tags", [customer.pk], apply="1", tags="new one", reason="r")
    assert page.status_code == 200
    assert b"Unknown tag(s): new one" in page.content
    assert b"Nothing was changed." in page.content
    assert not Tag.objects.exists()


def test_a_reason_and_a_tag_are_required(boss):
    customer = CustomerFactory()
    page = post_action(boss, "add_tags", [customer.pk], apply="1", tags=" , ", reason=" ")
    assert page.status_code == 200
    assert page.context["form"].errors == {
        "tags": ["Name at least one tag."],
        "reason": ["This field is required."],
    }
    assert not TagAssignment.objects.exists()


@pytest.mark.parametrize("problem", ["deleted", "inactive"])
def test_a_domain_error_shows_the_message_and_writes_nothing(boss, problem):
    if problem == "deleted":
        TagFactory(name="Bad", is_deleted=True, deleted_at=timezone.now())
    else:
        TagFactory(name="Bad", is_active=False)
    customers = CustomerFactory.create_batch(2)
    page = post_action(
        boss, "add_tags", [c.pk for c in customers], apply="1", tags="fresh, Bad", reason="r",
        create_missing="on",
    )  # fmt: skip
    assert page.status_code == 200
    message = "is deleted; restore it first" if problem == "deleted" else "Inactive tag(s)"
    assert message in page.context["form"].non_field_errors()[0]
    assert list(Tag.objects.values_list("name", flat=True)) == ["Bad"]  # "fresh" rolled back
    assert not TagAssignment.objects.exists()


def test_the_tag_limit_rolls_back_every_batch(boss, settings, monkeypatch):
    settings.MAX_TAGS_PER_CUSTOMER = 1
    customers = CustomerFactory.create_batch(4)
    TagAssignmentFactory(customer=customers[-1], tag=TagFactory(name="held"))
    # batches of 2: the first batch passes, the second goes over the limit
    monkeypatch.setattr(
        customer_admin,
        "customer_id_batches",
        lambda queryset: customer_id_batches(queryset, batch_size=2),
    )
    page = post_action(
        boss, "add_tags", [c.pk for c in customers], apply="1", tags="one", reason="r",
        create_missing="on",
    )  # fmt: skip
    assert "at most 1 tags" in page.context["form"].non_field_errors()[0]
    assert TagAssignment.objects.count() == 1
    assert not Tag.objects.filter(name="one").exists()


def test_remove_tags_reports_per_tag_counts_and_unknown_names(boss):
    a, b = TagFactory(name="a"), TagFactory(name="b")
    customers = CustomerFactory.create_batch(3)
    for customer in customers:
        TagAssignmentFactory(customer=customer, tag=a)
    TagAssignmentFactory(customer=customers[0], tag=b)
    done = post_action(
        boss, "remove_tags", [c.pk for c in customers[:2]], apply="1", tags="A, b, nope",
        reason="cleanup",
    )  # fmt: skip
    assert done.status_code == 302
    assert [tag_names(c) for c in customers] == [[], [], ["a"]]
    change_set = ChangeSet.objects.get()
    assert messages_of(done) == [
        "Removed 3 tag assignments on 2 selected customers (a: 2, b: 1).",
        f"Recorded as change-set {change_set.pk} (Tags → Change sets), where it can be reverted.",
        "'nope' is not a tag",
    ]
    removed = TagAssignment.history.filter(history_type="-")
    assert {r.history_change_reason for r in removed} == {"cleanup"}


def test_select_across_tags_every_customer_matching_the_filter_batch_by_batch(
    boss, monkeypatch, django_assert_max_num_queries
):
    vip = TagFactory(name="vip")
    matching = CustomerFactory.create_batch(5)
    for customer in matching:
        TagAssignmentFactory(customer=customer, tag=vip)
    others = CustomerFactory.create_batch(2)
    seen_batches = []

    def small_batches(queryset):
        for batch in customer_id_batches(queryset, batch_size=2):
            seen_batches.append(len(batch))
            yield batch

    monkeypatch.setattr(customer_admin, "customer_id_batches", small_batches)
    query = f"?tag={vip.pk}"
    # the page's ticked ids are sent along, as the browser does; select_across overrides them
    page = post_action(boss, "add_tags", [matching[0].pk], query=query, select_across="1")
    assert b"Add tags to 5 customers" in page.content
    assert b'name="select_across" value="1"' in page.content

    done = post_action(
        boss, "remove_tags", [matching[0].pk], query=query, select_across="1", apply="1",
        tags="vip", reason="campaign over",
    )  # fmt: skip
    assert done.status_code == 302
    assert seen_batches == [2, 2, 1]
    assert [tag_names(c) for c in matching + others] == [[]] * 7
    assert messages_of(done)[0] == "Removed 5 tag assignments on 5 selected customers (vip: 5)."


def test_the_confirmation_page_counts_with_a_query_and_loads_no_customer(boss):
    counts = []
    for n in (3, 30):
        CustomerFactory.create_batch(n)
        page, count, queries = measured(post_action, boss, "add_tags", ["x"], select_across="1")
        counts.append(count)
        assert page.context["count"] == Customer.objects.count()
        customer_reads = [
            q["sql"]
            for q in queries
            if 'FROM "customers_customer"' in q["sql"] and "COUNT(" not in q["sql"].upper()
        ]
        assert customer_reads == []
    assert counts[0] == counts[1]


def test_change_status_runs_over_every_customer_matching_the_filter(boss):
    vip = TagFactory(name="vip")
    matching = CustomerFactory.create_batch(3)
    for customer in matching:
        TagAssignmentFactory(customer=customer, tag=vip)
    other = CustomerFactory()
    inactive = StatusLabel.objects.get(name="Inactive")
    done = post_action(
        boss, "change_status", [matching[0].pk], query=f"?tag={vip.pk}", select_across="1",
        apply="1", label=inactive.pk, reason="moved away",
    )  # fmt: skip
    assert done.status_code == 302
    changed = StatusChange.objects.filter(reason="moved away", source="ADMIN")
    assert sorted(changed.values_list("customer_id", flat=True)) == sorted(c.pk for c in matching)
    other.refresh_from_db()
    assert other.status_label.name == "Active"


# --- the change page and the history ----------------------------------------------------------


def test_change_page_shows_current_tags_read_only_and_still_saves(boss):
    customer = CustomerFactory(name="Ada")
    TagAssignmentFactory(customer=customer, tag=TagFactory(name="shown"))
    TagAssignmentFactory(
        customer=customer, tag=TagFactory(name="gone", is_deleted=True, deleted_at=timezone.now())
    )
    url = f"{CHANGELIST}{customer.pk}/change/"
    page = boss.get(url)
    inline = page.context["inline_admin_formsets"][0]
    assert [f.original.tag.name for f in inline] == ["shown"]
    assert b'name="tag_assignments-' not in page.content  # nothing editable or submitted
    assert b'href="/admin/tags/tag/' in page.content

    data = {  # what the form submits: the inline only shows, it is not part of a save
        "name": "Ada Lovelace",
        "email": customer.email,
        "mobile": customer.mobile,
        "reference_id": customer.reference_id,
        "metadata": "{}",
    }
    assert boss.post(url, data).status_code == 302
    customer.refresh_from_db()
    assert customer.name == "Ada Lovelace"
    assert tag_names(customer) == ["shown"]


def test_customer_history_merges_fields_tags_and_statuses_with_who_and_why(boss):
    customer = customer_services.customer_create(
        data={"name": "Ada"}, actor=boss.user, reason="signed up"
    )
    customer_services.customer_update(
        customer=customer, data={"name": "Ada L."}, actor=boss.user, reason="typo"
    )
    tag_services.customers_retag(
        batches=[[customer.pk]],
        change=tag_services.TagChange(add=["vip"], reason="big spender", source="admin"),
        actor=boss.user,
    )
    customer_status_change(
        customer=customer,
        label=StatusLabel.objects.get(name="Suspended"),
        reason="chargeback",
        source="API",
        actor=boss.user,
    )
    tag_services.customers_retag(
        batches=[[customer.pk]],
        change=tag_services.TagChange(remove=["vip"], reason="refund"),
        actor=None,
    )
    page = boss.get(f"{CHANGELIST}{customer.pk}/history/")
    assert page.status_code == 200
    entries = [(e["type"], e["by"], e["reason"]) for e in page.context["entries"]]
    assert entries[0] == ("tag removed", None, "refund")
    # one status change: the change log's entry and the customer's own record of the label
    assert sorted(entries[1:3]) == [
        ("changed", "boss", "chargeback"),
        ("status changed", "boss", "chargeback"),
    ]
    assert entries[3:] == [
        ("tag added", "boss", "big spender"),
        ("changed", "boss", "typo"),
        ("created", "boss", "signed up"),
    ]
    by_type = {e["reason"] + e["type"]: e for e in page.context["entries"]}
    assert by_type["typochanged"]["changes"] == {"name": ["Ada", "Ada L."]}
    assert by_type["chargebackchanged"]["changes"] == {"status_label": ["Active", "Suspended"]}
    assert by_type["chargebackstatus changed"]["detail"] == (
        "Active → Suspended (Suspended), source API"
    )
    assert by_type["big spendertag added"]["detail"] == "vip (source admin)"
    assert b"big spender" in page.content


def test_customer_history_is_paginated_with_the_same_queries_for_short_and_long_ones(boss):
    suspended = StatusLabel.objects.get(name="Suspended")
    counts, pages = [], []
    for n_tags in (3, 70):
        customer = customer_services.customer_create(data={"name": "A"}, actor=None)
        names = [f"t{i}" for i in range(n_tags)]
        tag_services.customers_retag(
            batches=[[customer.pk]],
            change=tag_services.TagChange(add=names, reason="r"),
            actor=None,
        )
        customer_status_change(
            customer=customer, label=suspended, reason="s", source="API", actor=None
        )
        customer_services.customer_update(customer=customer, data={"name": "B"}, actor=None)
        page, count, _ = measured(boss.get, f"{CHANGELIST}{customer.pk}/history/")
        pages.append(page)
        counts.append(count)
    assert counts[0] == counts[1]
    short, long = pages
    assert short.context["page_obj"].paginator.count == 3 + 4  # tags, created, status ×2, name
    assert long.context["page_obj"].paginator.count == 70 + 4
    assert len(long.context["entries"]) == 50
    customer_id = long.context["object"].pk
    last = boss.get(f"{CHANGELIST}{customer_id}/history/", {"p": 2})
    assert len(last.context["entries"]) == 24
    assert last.context["entries"][-1]["type"] == "created"
    assert b'href="?p=1"' in last.content


def test_history_of_a_deleted_customer_is_still_readable(boss):
    customer = customer_services.customer_create(data={"name": "Gone"}, actor=boss.user)
    customer_services.customer_delete(customer=customer, actor=boss.user, reason="gdpr request")
    page = boss.get(f"{CHANGELIST}{customer.pk}/history/")
    assert page.status_code == 200
    assert [(e["type"], e["reason"]) for e in page.context["entries"]] == [
        ("deleted", "gdpr request"),
        ("created", None),
    ]
    assert boss.get(f"{CHANGELIST}not-an-id/history/").status_code == 404


def test_show_counts_gives_each_listed_tag_its_own_count(boss):
    vip, gold = TagFactory(name="vip"), TagFactory(name="gold")
    for customer in CustomerFactory.create_batch(3):
        TagAssignmentFactory(customer=customer, tag=vip)
    TagAssignmentFactory(tag=gold)
    page = boss.get(CHANGELIST, {"_facets": "1", "tag": "VIP"})
    choices = list(tag_filter_of(page).choices(page.context["cl"]))
    assert [(c["display"], c["selected"]) for c in choices] == [
        ("All", False),
        ("vip (3)", True),
        ("gold (1)", False),
    ]
