"""What the history of a tag says for a plain add or edit in the admin: who, and no reason
(the admin's form asks for none)."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from tags.models import Tag
from tests.factories import TagFactory, UserFactory

pytestmark = pytest.mark.django_db
FORM = {
    "reference_id": "",
    "description": "",
    "is_active": "on",
    "metadata": '{"info": [], "list": []}',
}


@pytest.fixture
def staff():
    user = UserFactory(username="staff", is_staff=True)
    user.groups.add(Group.objects.get(name="Back office"))
    client = Client()
    client.force_login(user)
    client.user = user
    return client


def test_a_tag_added_in_the_admin_is_recorded_with_its_user_and_the_admin_reason(staff):
    response = staff.post("/admin/tags/tag/add/", {**FORM, "name": "Gold"})
    assert response.status_code == 302
    record = Tag.objects.get(name="Gold").history.get()
    assert (record.history_type, record.history_user, record.history_change_reason) == (
        "+",
        staff.user,
        "Created in the admin",
    )


def test_a_tag_edited_in_the_admin_is_recorded_with_its_user_and_the_admin_reason(staff):
    tag = TagFactory(name="Gold")
    response = staff.post(
        f"/admin/tags/tag/{tag.pk}/change/", {**FORM, "name": "Gold", "description": "shiny"}
    )
    assert response.status_code == 302
    record = tag.history.latest("history_id")
    assert (record.history_type, record.history_user, record.history_change_reason) == (
        "~",
        staff.user,
        "Changed in the admin",
    )
    assert record.description == "shiny"
