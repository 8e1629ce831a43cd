"""The segment admin writes through segments.services: the rule is checked and stored by the
service, every write resets the cached rules, and no request leaves state on the admin."""

import pytest
from django.test import RequestFactory

from segments.models import Segment
from segments.selectors import active_segments, active_segments_invalidate, segment_rule
from segments.services import segment_save
from tests.admin.pages import (
    bulk_delete,
    deletions_logged,
    form_errors,
    messages_of,
    model_admin,
    posted_back,
    url_of,
)
from tests.factories import TagFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def cached_rules(settings):
    """Segment rules cached for an hour: only an explicit reset makes a change visible."""
    settings.SEGMENT_RULES_RECHECK_SECONDS = 3600
    active_segments_invalidate()


def active_names() -> list[str]:
    return [s.name for s in active_segments()]


def history_of(segment: Segment) -> list[tuple[str, str | None, str | None]]:
    return [
        (
            h.history_type,
            h.history_user.username if h.history_user else None,
            h.history_change_reason,
        )
        for h in Segment.history.filter(id=segment.pk).order_by("history_id")
    ]


def segment(name: str, *tags: str) -> Segment:
    return segment_save(segment=None, data={"name": name, "rule": {"all": list(tags)}}, actor=None)


def test_adding_a_segment_goes_through_the_service_and_resets_the_cached_rules(
    boss, cached_rules, django_capture_on_commit_callbacks
):
    vip = TagFactory(name="vip")
    assert active_names() == []
    page = boss.get(url_of(Segment, "add"))

    with django_capture_on_commit_callbacks(execute=True):
        response = boss.post(
            url_of(Segment, "add"), posted_back(page, name="VIPs", tags_all=[vip.pk])
        )

    assert response.status_code == 302
    created = Segment.objects.get()
    assert segment_rule(created).all == (vip.pk,)
    assert history_of(created) == [
        ("+", "boss", "Created in the admin"),
        ("~", "boss", "Created in the admin"),
    ]
    assert active_names() == ["VIPs"]


def test_changing_a_segment_records_the_admin_reason(boss):
    TagFactory(name="vip")
    loyal = TagFactory(name="loyal")
    seg = segment("VIPs", "vip")
    page = boss.get(url_of(Segment, seg.pk, "change"))

    response = boss.post(page.request["PATH_INFO"], posted_back(page, tags_all=[loyal.pk]))

    assert response.status_code == 302
    assert segment_rule(seg).all == (loyal.pk,)
    assert history_of(seg)[-1] == ("~", "boss", "Changed in the admin")


def test_a_name_another_segment_holds_is_a_form_error_not_a_traceback(boss):
    vip = TagFactory(name="vip")
    segment("VIPs", "vip")
    page = boss.get(url_of(Segment, "add"))

    response = boss.post(url_of(Segment, "add"), posted_back(page, name=" vips", tags_all=[vip.pk]))

    assert form_errors(response) == {"name": ["A segment named 'vips' already exists."]}
    assert Segment.objects.count() == 1


def test_a_rule_the_service_refuses_is_shown_on_its_field(boss):
    vip = TagFactory(name="vip")
    seg = segment("VIPs", "vip")
    page = boss.get(url_of(Segment, seg.pk, "change"))

    response = boss.post(page.request["PATH_INFO"], posted_back(page, tags_none=[vip.pk]))

    assert form_errors(response) == {"tags_none": ["Tag 'vip' is in both 'all' and 'none'."]}
    assert segment_rule(seg).none == ()


def test_deleting_a_segment_goes_through_the_service_and_resets_the_cached_rules(
    boss, cached_rules, django_capture_on_commit_callbacks
):
    TagFactory(name="vip")
    seg = segment("VIPs", "vip")
    assert active_names() == ["VIPs"]

    with django_capture_on_commit_callbacks(execute=True):
        response = boss.post(url_of(Segment, seg.pk, "delete"), {"post": "yes"})

    assert response.status_code == 302
    assert active_names() == []
    assert history_of(seg)[-1] == ("-", "boss", "Deleted in the admin")
    assert deletions_logged(Segment) == {seg.pk}


def test_delete_selected_resets_the_cached_rules(
    boss, cached_rules, django_capture_on_commit_callbacks
):
    TagFactory(name="vip")
    doomed = [segment("VIPs", "vip"), segment("Also VIPs", "vip")]
    segment("Kept", "vip")
    assert active_names() == ["Also VIPs", "Kept", "VIPs"]

    with django_capture_on_commit_callbacks(execute=True):
        response = bulk_delete(boss, Segment, doomed)

    assert active_names() == ["Kept"]
    assert {h for s in doomed for h in history_of(s)[-1:]} == {
        ("-", "boss", "Deleted in the admin")
    }
    assert deletions_logged(Segment) == {s.pk for s in doomed}
    assert messages_of(response) == [("success", "Successfully deleted 2 segments.")]


def test_two_saves_interleaved_on_the_shared_admin_each_save_their_own_form(boss):
    # given two requests in flight at once on the one SegmentAdmin (a threaded server)
    vip, loyal = TagFactory(name="vip"), TagFactory(name="loyal")
    admin = model_admin(Segment)
    requests, forms, objects = [], [], []
    for name, tag in (("VIPs", vip), ("Loyal", loyal)):
        request = RequestFactory().post(url_of(Segment, "add"))
        request.user = boss.user
        form = admin.get_form(request, None, change=False)(
            {"name": name, "description": "", "is_active": "on", "tags_all": [tag.pk]}
        )
        assert form.is_valid(), form.errors
        requests.append(request)
        forms.append(form)
        objects.append(admin.save_form(request, form, change=False))

    # when Django's steps of the two requests interleave
    for request, obj, form in zip(requests, objects, forms, strict=True):
        admin.save_model(request, obj, form, False)
    for request, form in zip(requests, forms, strict=True):
        admin.save_related(request, form, [], False)

    # then each request saved its own segment, with its own rule
    saved = {s.name: segment_rule(s).all for s in Segment.objects.all()}
    assert saved == {"VIPs": (vip.pk,), "Loyal": (loyal.pk,)}
    assert [o.pk for o in objects] == [
        Segment.objects.get(name="VIPs").pk,
        Segment.objects.get(name="Loyal").pk,
    ]
