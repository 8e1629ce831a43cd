"""Staff see and do only what their permissions allow."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from tags.models import Tag, TagAssignment
from tests.factories import CustomerFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db
CUSTOMERS = "/admin/customers/customer/"
TAGS = "/admin/tags/tag/"


def staff(*perms: str, group: str | None = None) -> Client:
    user = UserFactory(is_staff=True, perms=list(perms))
    if group:
        user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


def actions(client: Client, url: str) -> set[str]:
    form = client.get(url).context["action_form"]  # None when there is no action at all
    return {name for name, _ in form.fields["action"].choices if name} if form else set()


def test_back_office_tags_customers_but_cannot_delete_tags_for_good():
    desk = staff(group="Back office")
    assert actions(desk, CUSTOMERS) == {
        "add_tags",
        "remove_tags",
        "change_status",
        "delete_selected",
    }
    assert actions(desk, TAGS) == {"soft_delete", "restore", "merge"}  # no delete_selected
    tag = TagFactory()
    assert desk.get(f"{TAGS}{tag.pk}/delete/").status_code == 403
    desk.post(TAGS, {"action": "delete_selected", "_selected_action": [tag.pk], "post": "yes"})
    assert Tag.objects.filter(pk=tag.pk).exists()


def test_actions_follow_their_permissions():
    viewer = staff("customers.view_customer")
    assert actions(viewer, CUSTOMERS) == set()
    tagger = staff("customers.view_customer", "customers.tag_customer")
    assert actions(tagger, CUSTOMERS) == {"add_tags", "remove_tags"}
    status_desk = staff("customers.view_customer", "statuses.change_customer_status")
    assert actions(status_desk, CUSTOMERS) == {"change_status"}


def test_an_action_without_its_permission_changes_nothing():
    status_desk = staff("customers.view_customer", "statuses.change_customer_status")
    customer = CustomerFactory()
    response = status_desk.post(
        CUSTOMERS,
        {
            "action": "add_tags",
            "_selected_action": [customer.pk],
            "apply": "1",
            "tags": "vip",
            "reason": "r",
            "create_missing": "on",
        },
    )
    assert response.status_code == 302  # back to the list: "No action selected."
    assert [str(m) for m in response.wsgi_request._messages] == ["No action selected."]
    assert not TagAssignment.objects.exists()
    assert not Tag.objects.exists()


def test_history_pages_need_view_permission():
    customer, tag = CustomerFactory(), TagFactory()
    nobody = staff("tags.view_tag")
    assert nobody.get(f"{CUSTOMERS}{customer.pk}/history/").status_code == 403
    assert nobody.get(f"{TAGS}{tag.pk}/history/").status_code == 200
    viewer = staff("customers.view_customer")
    assert viewer.get(f"{CUSTOMERS}{customer.pk}/history/").status_code == 200
    assert viewer.get(f"{TAGS}{tag.pk}/history/").status_code == 403
