"""The steps of a background run, exactly: each one says whether there is more, so a run stops
once its customers (a revert: the original's history rows) are done or a cancel came, and each
batch starts after the cursor, never at it. In the test's process; a run whose steps never
stop is failed here instead of looping."""

import pytest
from django.test import override_settings

from statuses.models import StatusLabel
from tags.models import ChangeSet, TagAssignment
from tags.services import (
    ChangeSetPlan,
    TagChange,
    bulk,
    change_set_cancel,
    change_set_plan,
    change_set_revert,
    change_set_run,
    change_sets,
    customers_retag,
    status_bulk,
)
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
History = TagAssignment.history.model
STEPS_MAX = 12


def customers(n: int) -> list:
    return sorted(CustomerFactory.create_batch(n), key=lambda c: c.pk)


def steps(monkeypatch, module, name: str, *, cancel_after_first: str | None = None) -> list:
    """What each step (``module.name``) answered, in order; ``cancel_after_first``: the
    change-set cancelled once the first step is done. A step past STEPS_MAX raises, which
    fails the run, as a run that never stops would never end."""
    real = getattr(module, name)
    answers = []

    def step(*args, **kwargs):
        if len(answers) >= STEPS_MAX:
            raise RuntimeError("the run does not stop")
        answers.append(real(*args, **kwargs))
        if cancel_after_first and len(answers) == 1:
            change_set_cancel(change_set=ChangeSet.objects.get(pk=cancel_after_first))
        return answers[-1]

    monkeypatch.setattr(module, name, step)
    return answers


def tag_planned(everyone: list) -> ChangeSet:
    return change_set_plan(
        customer_ids=[c.pk for c in everyone],
        change=TagChange(add=("vip",), reason="r"),
        actor=None,
        selection={},
    )[0]


def status_planned(everyone: list) -> ChangeSet:
    return status_bulk.customers_status_change_plan(
        customer_ids=[c.pk for c in everyone],
        label=StatusLabel.objects.get(name="Inactive"),
        reason="r",
        actor=None,
        selection={},
    )


def revert_planned(everyone: list) -> ChangeSet:
    original = customers_retag(
        batches=[[c.pk for c in everyone]],
        change=TagChange(add=("vip",), reason="seed"),
        actor=None,
        plan=ChangeSetPlan(kind="retag"),
    ).change_set
    with override_settings(CHANGE_SET_SYNC_MAX=1):
        revert = change_set_revert(change_set=original, actor=None, background=True)
    assert revert.state == "planned"
    return revert


def test_a_tag_run_takes_each_customer_once_and_stops_when_none_is_left(monkeypatch):
    everyone = customers(3)
    planned = tag_planned(everyone)
    answers = steps(monkeypatch, bulk, "_run_batch")
    assert change_set_run(change_set_id=planned.pk, batch_size=2) == "done"
    assert answers == [True, True, False]
    planned.refresh_from_db()
    assert (planned.counts["customers"], planned.counts["added"]) == (3, 3)
    assert History.objects.filter(change_set_id=planned.pk).count() == 3


def test_a_cancelled_tag_run_takes_no_step_more(monkeypatch):
    planned = tag_planned(customers(3))
    answers = steps(monkeypatch, bulk, "_run_batch", cancel_after_first=planned.pk)
    assert change_set_run(change_set_id=planned.pk, batch_size=2) == "cancelled"
    assert answers == [True, False]
    assert TagAssignment.objects.count() == 2


def test_a_status_run_takes_each_customer_once_and_stops_when_none_is_left(monkeypatch):
    everyone = customers(3)
    planned = status_planned(everyone)
    answers = steps(monkeypatch, status_bulk, "_run_batch")
    assert change_set_run(change_set_id=planned.pk, batch_size=2) == "done"
    assert answers == [True, True, False]
    planned.refresh_from_db()
    assert (planned.counts["customers"], planned.counts["added"]) == (3, 3)
    assert planned.cursor == everyone[-1].pk


def test_a_cancelled_status_run_takes_no_step_more(monkeypatch):
    planned = status_planned(customers(3))
    answers = steps(monkeypatch, status_bulk, "_run_batch", cancel_after_first=planned.pk)
    assert change_set_run(change_set_id=planned.pk, batch_size=2) == "cancelled"
    assert answers == [True, False]
    planned.refresh_from_db()
    assert planned.counts["customers"] == 2


def test_a_revert_run_takes_each_history_row_once_and_stops_when_none_is_left(monkeypatch):
    revert = revert_planned(customers(3))
    answers = steps(monkeypatch, change_sets, "_revert_batch")
    assert change_set_run(change_set_id=revert.pk, batch_size=2) == "done"
    assert answers == [True, True, False]
    revert.refresh_from_db()
    assert (revert.counts["removed"], revert.counts["conflicts"]) == (3, 0)
    assert not TagAssignment.objects.exists()


def test_a_cancelled_revert_run_takes_no_step_more(monkeypatch):
    revert = revert_planned(customers(3))
    answers = steps(monkeypatch, change_sets, "_revert_batch", cancel_after_first=revert.pk)
    assert change_set_run(change_set_id=revert.pk, batch_size=2) == "cancelled"
    assert answers == [True, False]
    assert TagAssignment.objects.count() == 1
