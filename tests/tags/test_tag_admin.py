"""The tag admin, through Django's test client."""

import pytest
from django.test import Client
from django.utils import timezone

from tags.models import Tag
from tests.factories import TagAssignmentFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/tags/tag/"


@pytest.fixture
def staff():
    """A back-office user: every tag permission except permanent deletion."""
    from django.contrib.auth.models import Group

    user = UserFactory(username="staff", is_staff=True)
    user.groups.add(Group.objects.get(name="Back office"))
    client = Client()
    client.force_login(user)
    client.user = user
    return client


def test_list_shows_customer_counts_in_one_query(staff, django_assert_max_num_queries):
    for n, tag in enumerate(TagFactory.create_batch(5)):
        TagAssignmentFactory.create_batch(n, tag=tag)
    with django_assert_max_num_queries(8):
        response = staff.get(CHANGELIST)
    assert response.status_code == 200
    assert sorted(t.customer_count for t in response.context["cl"].result_list) == [0, 1, 2, 3, 4]


def test_soft_delete_and_restore_actions(staff):
    tags = TagFactory.create_batch(2)
    ids = [t.pk for t in tags]
    staff.post(CHANGELIST, {"action": "soft_delete", "_selected_action": ids})
    assert Tag.objects.filter(pk__in=ids, is_deleted=True).count() == 2
    assert tags[0].history.latest("history_id").history_user == staff.user
    staff.post(CHANGELIST, {"action": "restore", "_selected_action": ids})
    assert Tag.objects.filter(pk__in=ids, is_deleted=False).count() == 2


def test_deleted_tag_page_is_read_only_and_its_restore_button_works(staff):
    tag = TagFactory(name="Oops", is_deleted=True, deleted_at=timezone.now())
    TagAssignmentFactory(tag=tag)
    page = staff.get(f"{CHANGELIST}{tag.pk}/change/")
    assert page.status_code == 200
    assert b'id="restore-tag"' in page.content
    assert b'name="name"' not in page.content  # no editable inputs
    # a POST to the change view cannot edit it either
    staff.post(f"{CHANGELIST}{tag.pk}/change/", {"name": "Edited"})
    tag.refresh_from_db()
    assert tag.name == "Oops"
    # the button restores, with the reason typed next to it
    response = staff.post(f"{CHANGELIST}{tag.pk}/restore/", {"reason": "deleted by mistake"})
    assert response.status_code == 302
    tag.refresh_from_db()
    assert tag.is_deleted is False
    assert tag.history.latest("history_id").history_change_reason == "deleted by mistake"
    assert Tag.objects.with_customer_count().get(pk=tag.pk).customer_count == 1


def test_live_tag_page_has_no_restore_button_and_edits_go_through_the_service(staff):
    tag = TagFactory(name="Live")
    page = staff.get(f"{CHANGELIST}{tag.pk}/change/")
    assert b'id="restore-tag"' not in page.content
    response = staff.post(
        f"{CHANGELIST}{tag.pk}/change/",
        {
            "name": "  Live  Now ",
            "reference_id": "",
            "description": "",
            "is_active": "on",
            "metadata": '{"info": [], "list": []}',
        },
    )
    assert response.status_code == 302
    tag.refresh_from_db()
    assert (tag.name, tag.name_key) == ("Live Now", "live now")
    assert tag.history.latest("history_id").history_user == staff.user


def test_permanent_delete_needs_its_own_permission(staff):
    tag = TagFactory(name="Keep")
    # Back office lacks tags.hard_delete_tag: no delete page, no bulk delete action
    assert staff.get(f"{CHANGELIST}{tag.pk}/delete/").status_code == 403
    assert (
        "delete_selected"
        not in staff.get(CHANGELIST).context["action_form"].fields["action"].choices.__repr__()
    )
    # a superuser gets Django's confirmation page, then the tag is gone
    boss = Client()
    boss.force_login(UserFactory(username="boss", is_staff=True, is_superuser=True))
    confirm = boss.get(f"{CHANGELIST}{tag.pk}/delete/")
    assert confirm.status_code == 200
    assert b"Are you sure" in confirm.content
    boss.post(f"{CHANGELIST}{tag.pk}/delete/", {"post": "yes"})
    assert not Tag.objects.filter(pk=tag.pk).exists()


def test_history_page_shows_changes_and_revert_is_disabled(staff):
    tag = TagFactory(name="VIP")
    staff.post(CHANGELIST, {"action": "soft_delete", "_selected_action": [tag.pk]})
    history = staff.get(f"{CHANGELIST}{tag.pk}/history/")
    assert history.status_code == 200
    record = tag.history.earliest("history_id")
    revert = staff.post(f"{CHANGELIST}{tag.pk}/history/{record.history_id}/", {"name": "VIP"})
    assert revert.status_code == 403
    tag.refresh_from_db()
    assert tag.is_deleted is True


def test_history_page_shows_who_changed_what_and_why_newest_first_50_a_page(
    staff, django_assert_max_num_queries
):
    from tags import services

    tag = services.tag_create(data={"name": "VIP"}, actor=staff.user, reason="launch")
    for i in range(55):
        services.tag_update(
            tag=tag, data={"description": f"d{i}"}, actor=staff.user, reason=f"edit {i}"
        )
    services.tag_soft_delete(tag=tag, actor=None, reason="oops")
    url = f"{CHANGELIST}{tag.pk}/history/"
    with django_assert_max_num_queries(10) as first_queries:
        first = staff.get(url)
    entries = first.context["entries"]
    assert len(entries) == 50
    assert [(e["type"], e["by"], e["reason"]) for e in entries[:2]] == [
        ("deleted", None, "oops"),
        ("changed", "staff", "edit 54"),
    ]
    assert entries[1]["changes"] == {"description": ["d53", "d54"]}
    assert b"edit 54" in first.content
    with django_assert_max_num_queries(len(first_queries)):
        last = staff.get(url, {"p": 2})
    assert len(last.context["entries"]) == 7
    assert (last.context["entries"][-1]["type"], last.context["entries"][-1]["reason"]) == (
        "created",
        "launch",
    )


def test_merge_action_shows_what_will_move_then_merges(staff):
    from tests.factories import CustomerFactory

    keep, dup = TagFactory(name="VIP"), TagFactory(name="vip_customer")
    both, only_dup = CustomerFactory.create_batch(2)
    TagAssignmentFactory(customer=both, tag=keep)
    TagAssignmentFactory(customer=both, tag=dup)
    TagAssignmentFactory(customer=only_dup, tag=dup)
    selection = {"action": "merge", "_selected_action": [keep.pk, dup.pk]}
    page = staff.post(CHANGELIST, selection)
    assert page.status_code == 200
    previews = {p.into.name: (p.moved, p.already_held) for p in page.context["previews"]}
    assert previews == {"VIP": (1, 1), "vip_customer": (0, 1)}
    done = staff.post(
        CHANGELIST, {**selection, "apply": "1", "into": keep.pk, "reason": "dedupe"}, follow=True
    )
    assert "Merged 1 tag(s) into &#x27;VIP&#x27;: moved 1 assignment(s)" in done.content.decode()
    dup.refresh_from_db()
    assert (dup.is_deleted, dup.merged_into_id) == (True, keep.pk)
    assert set(keep.assignments.values_list("customer_id", flat=True)) == {both.pk, only_dup.pk}
    change_page = staff.get(f"{CHANGELIST}{keep.pk}/change/")
    assert "vip_customer" in change_page.content.decode()  # the alias shows on the tag's page


def test_merge_without_a_reason_changes_nothing(staff):
    keep, dup = TagFactory(name="a"), TagFactory(name="b")
    page = staff.post(
        CHANGELIST,
        {"action": "merge", "_selected_action": [keep.pk, dup.pk], "apply": "1", "into": keep.pk},
    )
    assert page.status_code == 200
    assert "reason" in page.context["form"].errors
    assert not Tag.objects.filter(is_deleted=True).exists()
