"""The Add tags… / Remove tags… confirmation page: "Preview" shows what the change would do
(per tag, the limit, the tags to create, warnings, the selected customers: all, or the first 20
and the total) and writes nothing; "Apply" over CHANGE_SET_SYNC_MAX customers plans a
background change-set and goes to its page, writing no assignment in the request."""

import pytest
from django.contrib.messages import get_messages
from django_tasks_db.models import DBTaskResult

from config.events.models import Event
from customers import admin as customer_admin
from customers.selectors import customer_id_batches
from tags.models import ChangeSet, Tag, TagAssignment
from tags.services import change_set_run
from tests.factories import CustomerFactory, TagAssignmentFactory, TagFactory

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/customers/customer/"
History = TagAssignment.history.model


def post_action(client, action: str, ids, query: str = "", **data):
    return client.post(f"{CHANGELIST}{query}", {"action": action, "_selected_action": ids, **data})


def written() -> tuple:
    """Every kind of row a tag change writes, counted."""
    return (
        TagAssignment.objects.count(),
        History.objects.count(),
        Event.objects.count(),
        ChangeSet.objects.count(),
        Tag.objects.count(),
        DBTaskResult.objects.count(),
    )


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_preview_shows_per_tag_figures_and_the_first_20_of_the_selection_writing_nothing(
    boss, settings, monkeypatch
):
    settings.MAX_TAGS_PER_CUSTOMER = 2
    # batches of 10: the figures are summed over the three
    monkeypatch.setattr(
        customer_admin, "customer_id_batches", lambda qs: customer_id_batches(qs, batch_size=10)
    )
    vip = TagFactory(name="VIP")
    customers = sorted(CustomerFactory.create_batch(25), key=lambda c: c.pk)
    TagAssignmentFactory(customer=customers[0], tag=vip)
    TagAssignmentFactory(customer=customers[1], tag=vip)
    for name in ("x", "y"):  # customers[2] holds 2 tags: 2 more take it past the limit of 2
        TagAssignmentFactory(customer=customers[2], tag=TagFactory(name=name))
    before = written()

    page = post_action(
        boss, "add_tags", [c.pk for c in customers], apply="1", preview="1",
        tags="vip, Brand New", reason="spring", create_missing="on",
    )  # fmt: skip

    assert page.status_code == 200
    assert written() == before
    preview = page.context["preview"]
    assert page.context["figures"] == [("Brand New", 25), ("VIP", 23)]
    assert (preview.matched, preview.changed, preview.over_limit) == (25, 25, 1)
    assert len(preview.sample) == 20
    assert preview.created_tags == ["Brand New"]
    html = page.content.decode()
    assert "1 customer would go past the limit of 2 tags: Apply will be refused." in html
    assert "Tags to create: Brand New." in html
    assert "The first 20 of 25 selected customers" in html
    assert [c.pk for c, _ in page.context["shown"]] == [c.pk for c in customers[:20]]
    assert 'id="retag-apply"' in html


def test_preview_of_a_small_selection_lists_every_customer_and_the_warnings(boss):
    a = TagFactory(name="a")
    customers = sorted(CustomerFactory.create_batch(3), key=lambda c: c.pk)
    TagAssignmentFactory(customer=customers[0], tag=a)
    before = written()

    page = post_action(
        boss, "remove_tags", [c.pk for c in customers], apply="1", preview="1",
        tags="A, nope", reason="cleanup",
    )  # fmt: skip

    assert written() == before
    assert page.context["figures"] == [("a", 1)]
    assert page.context["preview"].warnings == ["'nope' is not a tag"]
    html = page.content.decode()
    assert "The 3 selected customers" in html
    assert "&#x27;nope&#x27; is not a tag" in html
    assert [(c.pk, tags) for c, tags in page.context["shown"]] == [
        (customers[0].pk, ["a"]), (customers[1].pk, []), (customers[2].pk, []),
    ]  # fmt: skip


def test_preview_of_select_across_counts_every_matching_customer(boss, monkeypatch):
    vip = TagFactory(name="vip")
    matching = CustomerFactory.create_batch(5)
    for customer in matching[:4]:
        TagAssignmentFactory(customer=customer, tag=vip)
    CustomerFactory.create_batch(2)
    monkeypatch.setattr(
        customer_admin, "customer_id_batches", lambda qs: customer_id_batches(qs, batch_size=2)
    )
    page = post_action(
        boss, "remove_tags", [matching[0].pk], query="?tag=vip", select_across="1", apply="1",
        preview="1", tags="vip", reason="r",
    )  # fmt: skip
    assert page.context["figures"] == [("vip", 4)]
    assert (page.context["preview"].matched, page.context["count"]) == (4, 4)
    assert TagAssignment.objects.count() == 4


def test_a_refused_preview_is_a_form_error_and_writes_nothing(boss):
    customer = CustomerFactory()
    before = written()
    page = post_action(
        boss, "add_tags", [customer.pk], apply="1", preview="1", tags="new one", reason="r"
    )
    assert page.status_code == 200
    assert "Unknown tag(s): new one" in page.context["form"].non_field_errors()[0]
    assert page.context["preview"] is None
    assert 'id="retag-apply"' not in page.content.decode()
    assert written() == before


def test_the_first_page_offers_preview_only(boss):
    customer = CustomerFactory()
    page = post_action(boss, "add_tags", [customer.pk]).content.decode()
    assert 'name="preview"' in page
    assert 'id="retag-apply"' not in page


def test_apply_over_the_threshold_plans_a_background_change_set_and_goes_to_its_page(
    boss, settings, django_capture_on_commit_callbacks
):
    settings.CHANGE_SET_SYNC_MAX = 3
    customers = sorted(CustomerFactory.create_batch(5), key=lambda c: c.pk)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(
            boss, "add_tags", [c.pk for c in customers], apply="1", tags="vip", reason="big",
            create_missing="on",
        )  # fmt: skip

    change_set = ChangeSet.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/tags/changeset/{change_set.pk}/change/"
    assert not TagAssignment.objects.exists()
    assert not History.objects.exists()
    assert (change_set.state, change_set.kind, change_set.total) == ("planned", "bulk_tag", 5)
    assert change_set.options["background"] is True
    assert change_set.selection == {"admin": {"selected": 5}}
    assert change_set.customer_ids == [c.pk for c in customers]  # ULIDs, whatever the database
    assert change_set.created_by == boss.user
    assert DBTaskResult.objects.ready().count() == 1
    assert messages_of(response)[0].startswith(f"Planned as change-set {change_set.pk}: 5 ")
    # the job, run, does the change
    assert change_set_run(change_set_id=change_set.pk) == "done"
    assert TagAssignment.objects.filter(tag__name="vip").count() == 5


def test_apply_at_the_threshold_still_runs_in_the_request(boss, settings):
    settings.CHANGE_SET_SYNC_MAX = 3
    customers = CustomerFactory.create_batch(3)
    response = post_action(
        boss, "add_tags", [c.pk for c in customers], apply="1", tags="vip", reason="r",
        create_missing="on",
    )  # fmt: skip
    assert response.status_code == 302
    assert response["Location"] == CHANGELIST
    assert ChangeSet.objects.get().state == "done"
    assert TagAssignment.objects.count() == 3


def test_a_refused_background_apply_plans_nothing(boss, settings):
    settings.CHANGE_SET_SYNC_MAX = 3
    customers = CustomerFactory.create_batch(4)
    before = written()
    page = post_action(
        boss, "add_tags", [c.pk for c in customers], apply="1", tags="nope", reason="r"
    )
    assert page.status_code == 200
    assert "Unknown tag(s): nope" in page.context["form"].non_field_errors()[0]
    assert written() == before
