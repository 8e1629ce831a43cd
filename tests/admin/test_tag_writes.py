"""The tag admin writes through tags.services: a refusal is a form error or a message, never
a 403 or a traceback."""

import pytest

from tags.models import Tag
from tags.services import tags_merge
from tests.admin.pages import (
    bulk_delete,
    deletions_logged,
    form_errors,
    messages_of,
    posted_back,
    url_of,
)
from tests.factories import TagAssignmentFactory, TagFactory

pytestmark = pytest.mark.django_db


def history_of(tag: Tag) -> list[tuple[str, str | None, str | None]]:
    return [
        (
            h.history_type,
            h.history_user.username if h.history_user else None,
            h.history_change_reason,
        )
        for h in Tag.history.filter(id=tag.pk).order_by("history_id")
    ]


def test_adding_a_tag_goes_through_the_service_with_the_admin_reason(boss):
    page = boss.get(url_of(Tag, "add"))
    response = boss.post(url_of(Tag, "add"), posted_back(page, name="  Big   Spender "))
    assert response.status_code == 302
    tag = Tag.objects.get()
    assert (tag.name, tag.name_key) == ("Big Spender", "big spender")
    assert history_of(tag) == [("+", "boss", "Created in the admin")]


def test_changing_a_tag_records_the_admin_reason(boss):
    tag = TagFactory(name="vip")
    page = boss.get(url_of(Tag, tag.pk, "change"))
    response = boss.post(page.request["PATH_INFO"], posted_back(page, description="Top 1%"))
    assert response.status_code == 302
    assert history_of(tag)[-1] == ("~", "boss", "Changed in the admin")


def test_a_name_another_tag_holds_is_a_form_error_not_a_403(boss):
    # given two tags; the ModelForm cannot see the clash (names compare by their key)
    TagFactory(name="VIP")
    other = TagFactory(name="loyal")
    page = boss.get(url_of(Tag, other.pk, "change"))

    response = boss.post(page.request["PATH_INFO"], posted_back(page, name=" vip "))

    errors = form_errors(response)
    assert list(errors) == ["name"]
    assert errors["name"][0].startswith("A tag named 'VIP' already exists")
    other.refresh_from_db()
    assert other.name == "loyal"
    assert history_of(other) == [("+", None, None)]  # the factory's row alone


def test_a_deleted_tag_cannot_be_saved(boss):
    tag = TagFactory(name="Oops")
    Tag.objects.filter(pk=tag.pk).update(is_deleted=True)
    response = boss.post(url_of(Tag, tag.pk, "change"), {})
    assert form_errors(response) == {
        "__all__": [
            f"Tag 'Oops' is deleted; restore it first (POST /api/v1/customer_tags/{tag.pk}/restore)."
        ]
    }
    assert history_of(tag) == [("+", None, None)]


def test_deleting_a_tag_for_good_goes_through_the_service(boss):
    tag = TagFactory(name="gone")
    TagAssignmentFactory(tag=tag)
    response = boss.post(url_of(Tag, tag.pk, "delete"), {"post": "yes"})
    assert response.status_code == 302
    assert not Tag.objects.exists()
    assert history_of(tag)[1:] == [("-", "boss", "Deleted permanently in the admin")]
    assert deletions_logged(Tag) == {tag.pk}


def test_delete_selected_deletes_each_tag_through_the_service(boss):
    tags = TagFactory.create_batch(2)
    response = bulk_delete(boss, Tag, tags)
    assert not Tag.objects.exists()
    assert {h for t in tags for h in history_of(t)[1:]} == {
        ("-", "boss", "Deleted permanently in the admin")
    }
    assert messages_of(response) == [("success", "Successfully deleted 2 tags.")]


def test_restoring_a_merged_tag_is_a_message_not_a_traceback(boss):
    keep, dup, spare = TagFactory(name="VIP"), TagFactory(name="vip2"), TagFactory(name="old")
    tags_merge(sources=[dup], into=keep, actor=None, reason="dedupe")
    Tag.objects.filter(pk=spare.pk).update(is_deleted=True)

    response = boss.post(url_of(Tag), {"action": "restore", "_selected_action": [dup.pk, spare.pk]})

    assert response.status_code == 302
    assert messages_of(response) == [
        ("success", "Restored 1 tag(s)."),
        (
            "error",
            f"vip2 (deleted): Tag 'vip2' was merged into tag {keep.pk}; its name is an alias of that tag "
            "now: use it instead.",
        ),
    ]
    assert set(Tag.objects.filter(is_deleted=False).values_list("name", flat=True)) == {
        "VIP",
        "old",
    }
