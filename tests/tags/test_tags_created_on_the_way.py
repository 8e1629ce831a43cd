"""Tags created on the way by a tag call or a bulk change: their history row names who caused
them (a signed-in user) or nobody (a command, an anonymous caller), and why."""

import pytest
from django.contrib.auth.models import AnonymousUser

from tags.models import Tag
from tags.services import TagChange
from tags.services.names import tags_resolve
from tests.conftest import make_client
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db


def creation(name: str):
    tag = Tag.objects.get(name=name)
    return Tag.history.filter(id=tag.pk, history_type="+").get()


def test_a_tag_created_by_a_tag_call_names_the_tokens_user():
    client = make_client("customers.tag_customer", "tags.add_tag")
    customer = CustomerFactory()
    response = client.post(
        f"/api/v1/customers/{customer.pk}/tag", {"tags_to_add": ["brand-new"]}, format="json"
    )
    assert response.status_code == 200, response.content
    record = creation("brand-new")
    assert (record.history_user_id, record.history_change_reason) == (
        client.user.pk,
        "created while tagging",
    )


@pytest.mark.parametrize("actor", [None, AnonymousUser()], ids=["none", "anonymous"])
def test_a_tag_created_for_no_signed_in_user_names_nobody(actor):
    resolved = tags_resolve(
        change=TagChange(add=["from-a-file"], reason="import"),
        actor=actor,
        check_permissions=False,
    )
    assert [t.name for t in resolved.add.values()] == ["from-a-file"]
    record = creation("from-a-file")
    assert (record.history_user_id, record.history_change_reason) == (None, "import")


def test_a_tag_created_for_a_user_outside_a_request_names_that_user():
    # a command run for a user (retag --user): no request to take the user from
    ops = UserFactory(username="ops")
    tags_resolve(change=TagChange(add=["from-ops"]), actor=ops, check_permissions=False)
    record = creation("from-ops")
    assert (record.history_user_id, record.history_change_reason) == (
        ops.pk,
        "created while tagging",
    )
