"""expire_tags: the count it reports covers every batch, and one run's removals carry one time."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from tags.models import TagAssignment
from tests.factories import CustomerFactory, TagAssignmentFactory

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
