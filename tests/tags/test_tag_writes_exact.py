"""A tag's own writes through /customer_tags/ and the admin: what counts as a change, the
exact refusals, and who and why the history names."""

import pytest
from django.test import Client
from django.utils import timezone

from tags.models import Tag
from tags.services import tag_hard_delete, tag_restore, tag_soft_delete, tag_update
from tests.factories import TagFactory, UserFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/customer_tags/"


def history_types(tag_api, tag_id: str) -> list[str]:
    return [h["type"] for h in tag_api.get(f"{URL}{tag_id}/history").json()["history"]]


def test_the_same_name_spelt_with_other_spaces_is_no_change(tag_api):
    tag = TagFactory(name="Frequent Buyers")
    etag = tag_api.get(f"{URL}{tag.id}")["ETag"]
    response = tag_api.patch(f"{URL}{tag.id}", {"name": "  Frequent   Buyers "}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["customer_tag"]["name"] == "Frequent Buyers"
    assert response["ETag"] == etag
    assert history_types(tag_api, tag.id) == ["created"]


def test_changing_only_the_case_of_the_name_renames_the_tag(tag_api):
    tag = TagFactory(name="vip")
    response = tag_api.patch(f"{URL}{tag.id}", {"name": "VIP"}, format="json")
    assert response.status_code == 200, response.json()
    tag.refresh_from_db()
    assert (tag.name, tag.name_key) == ("VIP", "vip")
    last = tag_api.get(f"{URL}{tag.id}/history").json()["history"][-1]
    assert (last["type"], last["changes"]) == ("changed", {"name": ["vip", "VIP"]})


def test_changing_only_the_reference_id_keeps_the_name(tag_api):
    tag = TagFactory(name="VIP", reference_id="old-ref")
    response = tag_api.patch(f"{URL}{tag.id}", {"reference_id": "new-ref"}, format="json")
    assert response.status_code == 200, response.json()
    tag.refresh_from_db()
    assert (tag.name, tag.reference_id) == ("VIP", "new-ref")
    assert history_types(tag_api, tag.id) == ["created", "changed"]


def test_restoring_a_tag_that_is_not_deleted_names_it(tag_api):
    tag = TagFactory(name="VIP")
    response = tag_api.post(f"{URL}{tag.id}/restore", {}, format="json")
    assert response.status_code == 409
    assert response.json()["errors"] == [
        {"code": "customer_tag_not_deleted", "detail": "Tag 'VIP' is not deleted.", "attr": None}
    ]


def test_restoring_a_merged_tag_says_where_it_went(tag_api):
    target = TagFactory(name="VIP")
    merged = TagFactory(name="vip_customer", is_deleted=True, deleted_at=timezone.now())
    Tag.objects.filter(pk=merged.pk).update(merged_into=target)
    response = tag_api.post(f"{URL}{merged.id}/restore", {}, format="json")
    assert response.status_code == 409
    assert response.json()["errors"] == [
        {
            "code": "customer_tag_merged",
            "detail": f"Tag 'vip_customer' was merged into tag {target.id}; its name is an alias "
            "of that tag now: use it instead.",
            "attr": None,
        }
    ]


def test_a_permanent_delete_in_the_admin_names_who_and_why():
    tag = TagFactory(name="Gone")
    boss = UserFactory(username="boss", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(boss)
    response = client.post(f"/admin/tags/tag/{tag.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Tag.objects.filter(pk=tag.pk).exists()
    record = Tag.history.get(id=tag.pk, history_type="-")
    assert (record.history_user, record.history_change_reason) == (
        boss,
        "Deleted permanently in the admin",
    )


def test_a_change_and_a_permanent_delete_without_a_reason_have_no_reason_in_their_history():
    # given a tag and a signed-in user
    tag = TagFactory(name="Plain")
    user = UserFactory()
    # when the services change it and delete it for good without naming a reason
    tag_update(tag=tag, data={"description": "now described"}, actor=user)
    tag_hard_delete(tag=tag, actor=user)
    # then both history rows name the user and no reason (not a placeholder)
    rows = Tag.history.filter(id=tag.pk).order_by("history_id")
    assert [(r.history_type, r.history_user, r.history_change_reason) for r in rows][-2:] == [
        ("~", user, None),
        ("-", user, None),
    ]
    assert not Tag.objects.filter(pk=tag.pk).exists()


def test_a_restore_without_a_reason_has_no_reason_in_its_history():
    tag = TagFactory(name="Back")
    user = UserFactory()
    tag_soft_delete(tag=tag, actor=user, reason="gone for now")
    restored = tag_restore(tag=tag, actor=user)
    assert (restored.is_deleted, restored.deleted_at) == (False, None)
    latest = Tag.history.filter(id=tag.pk).latest("history_id")
    assert (latest.history_type, latest.history_user, latest.history_change_reason) == (
        "~", user, None,
    )  # fmt: skip
