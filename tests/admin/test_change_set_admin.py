"""The change-sets in the admin: a read-only list (filters state, kind, user, date) and page with
counts and conflicts; the Revert button goes through the same service as the API."""

import pytest
from django.test import Client

from statuses.models import StatusLabel
from tags.models import ChangeSet, TagAssignment
from tags.services import TagChange, customer_tags_change, customers_retag, customers_status_change
from tags.services.change_sets import ChangeSetPlan
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db
LIST = "/admin/tags/changeset/"


def signed_in(*perms: str, **fields) -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, perms=list(perms), **fields))
    return client


def bulk(customers, *, add=("vip",), actor=None) -> ChangeSet:
    result = customers_retag(
        batches=[[c.pk for c in customers]],
        change=TagChange(add=add, reason="spring"),
        actor=actor,
        plan=ChangeSetPlan(kind="retag", selection={"all": True}, total=len(customers)),
    )
    return result.change_set


@pytest.fixture
def boss() -> Client:
    return signed_in(is_superuser=True, username="boss")


def test_the_list_shows_and_filters_change_sets(boss):
    done = bulk(CustomerFactory.create_batch(2))
    failed = ChangeSet.objects.create(kind="bulk_tag", state="failed")
    page = boss.get(LIST)
    assert page.status_code == 200
    assert "2 customers, +2 -0" in page.content.decode()
    assert [c.pk for c in boss.get(LIST, {"state__exact": "failed"}).context["cl"].result_list] == [
        failed.pk
    ]
    assert [c.pk for c in boss.get(LIST, {"kind__exact": "retag"}).context["cl"].result_list] == [
        done.pk
    ]


def test_the_page_is_read_only_with_a_revert_button_for_who_may_revert(boss):
    done = bulk(CustomerFactory.create_batch(2))
    page = boss.get(f"{LIST}{done.pk}/change/").content.decode()
    assert 'id="revert-change-set"' in page
    assert 'name="_save"' not in page
    viewer = signed_in("tags.view_changeset")
    assert viewer.get(f"{LIST}{done.pk}/change/").status_code == 200
    assert 'id="revert-change-set"' not in viewer.get(f"{LIST}{done.pk}/change/").content.decode()
    assert viewer.post(f"{LIST}{done.pk}/revert/").status_code == 403
    assert boss.get(f"{LIST}{done.pk}/revert/").status_code == 403
    assert boss.post(f"{LIST}01jbx6m2qf7d8h4kz9w3n5c0vt/revert/").status_code == 404


def test_the_revert_button_reverts_through_the_service_and_shows_conflicts(boss):
    customers = sorted(CustomerFactory.create_batch(2), key=lambda c: c.pk)
    done = bulk(customers)
    customer_tags_change(customer=customers[0], change=TagChange(remove=("vip",)), actor=None)
    response = boss.post(f"{LIST}{done.pk}/revert/", {"reason": "wrong list"})
    revert = ChangeSet.objects.get(kind="revert")
    assert response.status_code == 302
    assert response["Location"] == f"{LIST}{revert.pk}/change/"
    assert (revert.reverts, revert.reason, revert.created_by.username) == (
        done,
        "wrong list",
        "boss",
    )
    assert not TagAssignment.objects.exists()
    page = boss.get(response["Location"]).content.decode()
    assert "1 conflict(s) left as they are" in page
    assert f"{customers[0].pk}</a>: vip added by the reverted change-set" in page
    # and a second revert is refused with the service's reason, nothing written
    again = boss.post(f"{LIST}{done.pk}/revert/", follow=True)
    assert "has been reverted already" in again.content.decode()
    assert ChangeSet.objects.filter(kind="revert").count() == 1


def test_the_add_tags_action_records_a_change_set(boss):
    customers = CustomerFactory.create_batch(2)
    response = boss.post(
        "/admin/customers/customer/",
        {"action": "add_tags", "_selected_action": [c.pk for c in customers], "apply": "1",
         "tags": "fresh", "reason": "spring", "create_missing": "on"},
        follow=True,
    )  # fmt: skip
    change_set = ChangeSet.objects.get()
    assert (change_set.kind, change_set.state, change_set.selection) == (
        "bulk_tag", "done", {"admin": {"selected": 2}},
    )  # fmt: skip
    assert (change_set.counts["added"], change_set.created_by.username) == (2, "boss")
    assert f"Recorded as change-set {change_set.pk}" in response.content.decode()


def test_the_page_links_to_exactly_the_customers_it_changed(boss):
    # given a tag change-set over two customers, a status change-set over a third, and others
    tagged = CustomerFactory.create_batch(2)
    tag_set = bulk(tagged)
    moved = CustomerFactory()
    status_set = customers_status_change(
        batches=[[moved.pk]],
        label=StatusLabel.objects.get(name="Inactive"),
        reason="churned",
        actor=None,
        selection={},
    ).change_set
    CustomerFactory.create_batch(2)
    # then each change-set's page links to the customer list filtered to its own customers
    for change_set, customers in ((tag_set, tagged), (status_set, [moved])):
        page = boss.get(f"{LIST}{change_set.pk}/change/").content.decode()
        url = f"/admin/customers/customer/?change_set={change_set.pk}"
        assert f'href="{url}"' in page
        listed = boss.get(url)
        assert listed.status_code == 200
        assert sorted(c.pk for c in listed.context["cl"].result_list) == sorted(
            c.pk for c in customers
        )
    # and an id that is no change-set's lists nobody, without an error
    for value in ("01jbx6m2qf7d8h4kz9w3n5c0vt", "not-an-id"):
        listed = boss.get("/admin/customers/customer/", {"change_set": value})
        assert (listed.status_code, list(listed.context["cl"].result_list)) == (200, [])


def test_the_revert_button_shows_only_where_a_revert_is_possible(boss):
    done = bulk(CustomerFactory.create_batch(1))
    assert 'id="revert-change-set"' in boss.get(f"{LIST}{done.pk}/change/").content.decode()
    for kind, state in (("merge", "done"), ("status", "done"), ("retag", "running"),
                        ("retag", "reverted")):  # fmt: skip
        other = ChangeSet.objects.create(kind=kind, state=state)
        page = boss.get(f"{LIST}{other.pk}/change/").content.decode()
        assert 'id="revert-change-set"' not in page, (kind, state)
