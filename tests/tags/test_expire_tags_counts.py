"""expire_tags: the count it reports covers every batch, one run's removals carry one time (the
run's clock and user when given), and the history keeps each assignment as it was."""

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.management import call_command
from django.utils import timezone

from tags.models import TagAssignment
from tags.services import tags_expire
from tests.factories import CustomerFactory, TagAssignmentFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_the_count_covers_every_batch_and_the_history_one_run_time():
    # given five expired assignments, one expiring tomorrow and one that never expires
    customer = CustomerFactory()
    past = timezone.now() - timedelta(minutes=1)
    expired = [TagAssignmentFactory(customer=customer, expires_at=past) for _ in range(5)]
    kept = [
        TagAssignmentFactory(customer=customer, expires_at=timezone.now() + timedelta(days=1)),
        TagAssignmentFactory(customer=customer, expires_at=None),
    ]
    # when they expire two at a time (three batches)
    before = timezone.now()
    out = StringIO()
    call_command("expire_tags", "--batch-size", "2", stdout=out)
    after = timezone.now()
    # then all five are gone and counted, the others stay
    assert out.getvalue().strip() == "Removed 5 expired assignment(s)."
    assert set(TagAssignment.objects.values_list("pk", flat=True)) == {a.pk for a in kept}
    removals = TagAssignment.history.filter(history_type="-")
    assert sorted(removals.values_list("id", flat=True)) == sorted(a.pk for a in expired)
    assert set(removals.values_list("history_change_reason", "history_user_id")) == {
        ("expired", None)
    }
    # one run, one time for all its batches
    (when,) = set(removals.values_list("history_date", flat=True))
    assert before <= when <= after


def test_nothing_expired_removes_nothing():
    TagAssignmentFactory(expires_at=timezone.now() + timedelta(minutes=1))
    out = StringIO()
    call_command("expire_tags", stdout=out)
    assert out.getvalue().strip() == "Removed 0 expired assignment(s)."
    assert TagAssignment.objects.count() == 1
    assert not TagAssignment.history.filter(history_type="-").exists()


def test_a_run_for_a_user_at_a_given_time_expires_what_had_expired_by_then_in_their_name():
    # given one assignment expired two minutes ago and one expired thirty seconds ago
    user = UserFactory(username="ops")
    now = timezone.now()
    customer = CustomerFactory()
    early = TagAssignmentFactory(customer=customer, expires_at=now - timedelta(minutes=2))
    late = TagAssignmentFactory(customer=customer, expires_at=now - timedelta(seconds=30))
    # when the run's clock says one minute ago
    run_at = now - timedelta(minutes=1)
    assert tags_expire(actor=user, now=run_at) == 1
    # then only the early one went, recorded for that user at that time
    assert list(TagAssignment.objects.values_list("pk", flat=True)) == [late.pk]
    (removal,) = TagAssignment.history.filter(history_type="-")
    assert (removal.id, removal.history_user_id, removal.history_change_reason) == (
        early.pk, user.pk, "expired",
    )  # fmt: skip
    assert removal.history_date == run_at


def test_a_run_for_an_anonymous_caller_names_no_user():
    TagAssignmentFactory(expires_at=timezone.now() - timedelta(minutes=1))
    assert tags_expire(actor=AnonymousUser()) == 1
    assert list(TagAssignment.history.filter(history_type="-").values_list("history_user_id")) == [
        (None,)
    ]


def test_the_removal_keeps_the_assignments_own_fields_whatever_the_time_zone(settings):
    # the rows SQL hands back are UTC, not the time zone of the settings
    settings.TIME_ZONE = "America/New_York"
    assigner = UserFactory(username="assigner")
    expired_at = timezone.now() - timedelta(hours=3)
    assignment = TagAssignmentFactory(expires_at=expired_at, assigned_by=assigner)
    call_command("expire_tags", stdout=StringIO())
    removal = TagAssignment.history.get(history_type="-")
    assert (removal.expires_at, removal.created_at, removal.assigned_by_id) == (
        expired_at, assignment.created_at, assigner.pk,
    )  # fmt: skip
