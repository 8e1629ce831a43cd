"""Many customers' status change as one change-set, exactly: counts that carry on across
batches, a refused customer that leaves the rest of its batch to move, the refusals listed,
the cursor, who is recorded."""

import pytest

from config.exceptions import InvalidInput
from customers.models import Customer
from statuses.models import Status, StatusChange, StatusLabel
from tags.services import customers_status_change
from tags.services.status_bulk import REFUSALS_LISTED
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def labels():
    inactive = StatusLabel.objects.get(name="Inactive")
    locked = StatusLabel.objects.create(name="Locked", status=Status.objects.get(name="Active"))
    locked.allowed_next.set([StatusLabel.objects.get(name="Active")])
    return inactive, locked


def made(n: int, label: StatusLabel | None = None) -> list:
    customers = CustomerFactory.create_batch(n)
    if label is not None:
        Customer.objects.filter(pk__in=[c.pk for c in customers]).update(status_label=label)
    return customers


def test_counts_carry_on_across_batches_and_a_refusal_leaves_the_rest_to_move(labels):
    inactive, locked = labels
    clerk = UserFactory(username="clerk")
    # given, per batch: a locked customer first (refused), then two movers, then one already
    # inactive, in id order
    batches = []
    for _ in range(2):
        batch = sorted(c.pk for c in made(4))
        Customer.objects.filter(pk=batch[0]).update(status_label=locked)
        Customer.objects.filter(pk=batch[-1]).update(status_label=inactive)
        batches.append(batch)
    everyone = [pk for batch in batches for pk in batch]
    # when the batches are moved to Inactive
    result = customers_status_change(
        batches=batches,
        label=inactive,
        reason="winter clean-up",
        actor=clerk,
        selection={"admin": {"selected": 8}},
        total=8,
    )
    # then each batch counted on from the one before
    assert (result.changed, result.unchanged, result.refused) == (4, 2, 2)
    assert len(result.refusals) == 2
    change_set = result.change_set
    assert change_set.counts["customers"] == 8  # processed
    assert change_set.counts["added"] == 4  # moved
    assert change_set.counts["conflicts"] == 2
    assert [c["customer_id"] for c in change_set.conflicts] == [batches[0][0], batches[1][0]]
    assert change_set.cursor == max(batches[1])
    # and every move names the clerk and the change-set
    assert set(StatusChange.objects.values_list("created_by", "change_set_id", "reason")) == {
        (clerk.pk, change_set.pk, "winter clean-up")
    }
    moved = Customer.objects.filter(pk__in=everyone, status_label=inactive)
    assert {c.history.latest("history_id").history_user_id for c in moved} >= {clerk.pk}


def test_the_refusals_listed_stop_at_ten(labels):
    inactive, locked = labels
    stuck = made(REFUSALS_LISTED + 2, locked)
    result = customers_status_change(
        batches=[sorted(c.pk for c in stuck)], label=inactive, reason="r", actor=None,
        selection={},
    )  # fmt: skip
    assert result.refused == REFUSALS_LISTED + 2
    assert len(result.refusals) == REFUSALS_LISTED == 10
    # the change-set keeps more of them, up to its own limit
    assert len(result.change_set.conflicts) == REFUSALS_LISTED + 2


def test_a_batch_with_nobody_left_still_moves_the_cursor_on(labels):
    # a background run walks on from the cursor: one left behind a batch of deleted customers
    # would read the same batch for ever
    inactive, _ = labels
    first, gone = made(1), made(1)
    Customer.objects.filter(pk=gone[0].pk).delete()
    result = customers_status_change(
        batches=[[first[0].pk], [gone[0].pk]], label=inactive, reason="r", actor=None,
        selection={},
    )  # fmt: skip
    result.change_set.refresh_from_db()
    assert result.change_set.cursor == gone[0].pk
    assert result.change_set.counts["customers"] == 1  # the deleted one was not processed


@pytest.mark.parametrize(
    ("reason", "code", "message"),
    [
        (None, "required", "A reason is required."),
        ("r" * 256, "max_length", "At most 255 characters."),
    ],
)
def test_a_refused_reason_says_why_and_records_nothing(labels, reason, code, message):
    with pytest.raises(InvalidInput) as refused:
        customers_status_change(
            batches=[[made(1)[0].pk]], label=labels[0], reason=reason, actor=None,
            selection={},
        )  # fmt: skip
    assert (str(refused.value), refused.value.code, refused.value.attr) == (
        message, code, "reason",
    )  # fmt: skip
    assert not StatusChange.objects.exists()


def test_a_reason_of_255_characters_is_taken(labels):
    result = customers_status_change(
        batches=[[made(1)[0].pk]], label=labels[0], reason="r" * 255, actor=None,
        selection={},
    )  # fmt: skip
    assert result.changed == 1
