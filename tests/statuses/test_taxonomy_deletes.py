"""Deleting statuses and labels: the exact refusals (code and message), and the history row a
delete leaves (who and why)."""

import pytest
from django.test import Client

from statuses.models import Status, StatusChange, StatusLabel
from statuses.services import label_delete, label_save, status_delete
from tests.conftest import make_client
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_api(db):
    client = make_client(username="root")
    client.user.is_superuser = True
    client.user.save()
    return client


def only_error(response) -> dict:
    (error,) = response.json()["errors"]
    return error


def new_label(name: str, status: str = "Active") -> StatusLabel:
    return label_save(
        label=None, data={"name": name, "status": Status.objects.get(name=status)}, actor=None
    )


def test_a_status_with_labels_is_refused_with_status_in_use(admin_api):
    # given a status with one label
    dormant = Status.objects.create(name="Dormant")
    StatusLabel.objects.create(name="Sleeping", status=dormant)
    # when it is deleted
    response = admin_api.delete(f"/api/v1/statuses/{dormant.id}")
    # then 409 with the code and the message that says what to do
    assert response.status_code == 409
    assert only_error(response) == {
        "code": "status_in_use",
        "detail": "Status 'Dormant' still has labels; delete or move them first.",
        "attr": None,
    }
    assert Status.objects.filter(pk=dormant.pk).exists()


def test_deleting_a_status_records_who_and_why(admin_api):
    dormant = Status.objects.create(name="Dormant")
    response = admin_api.delete(
        f"/api/v1/statuses/{dormant.id}", {"reason": "never used"}, format="json"
    )
    assert response.status_code == 204
    record = Status.history.filter(id=dormant.id, history_type="-").get()
    assert (record.history_user, record.history_change_reason) == (admin_api.user, "never used")


def test_a_status_deleted_without_a_reason_has_no_reason_in_its_history():
    # given a status and a signed-in user
    dormant = Status.objects.create(name="Dormant")
    user = UserFactory()
    # when the service deletes it without naming a reason
    status_delete(status=dormant, actor=user)
    # then the history row names the user and no reason (not a placeholder)
    record = Status.history.filter(id=dormant.id, history_type="-").get()
    assert (record.history_user, record.history_change_reason) == (user, None)
    assert not Status.objects.filter(pk=dormant.pk).exists()


def test_the_default_label_is_refused_with_default_label(admin_api):
    active = StatusLabel.objects.get(name="Active")
    response = admin_api.delete(f"/api/v1/status_labels/{active.id}")
    assert response.status_code == 409
    assert only_error(response) == {
        "code": "default_label",
        "detail": "'Active' is the default label for new customers; it cannot be deleted.",
        "attr": None,
    }
    assert StatusLabel.objects.filter(pk=active.pk).exists()


def test_a_label_customers_hold_is_refused_with_label_in_use(admin_api):
    gold = new_label("Gold")
    CustomerFactory.create_batch(2, status_label=gold)
    response = admin_api.delete(f"/api/v1/status_labels/{gold.id}")
    assert response.status_code == 409
    assert only_error(response) == {
        "code": "label_in_use",
        "detail": "2 customer(s) hold the label 'Gold'; move them to another label first.",
        "attr": None,
    }
    assert StatusLabel.objects.filter(pk=gold.pk).exists()


HISTORY_REFUSAL = {
    "code": "label_in_use",
    "detail": "The label 'Gold' appears in customers' status history, which is kept for good.",
    "attr": None,
}


def test_a_label_customers_moved_to_and_then_away_from_is_kept(admin_api):
    # given a customer moved to Gold and then away again: Gold is in their history
    gold = new_label("Gold")
    changer = make_client("statuses.change_customer_status")
    customer = CustomerFactory()
    for label in ("Gold", "Suspended"):
        moved = changer.put(
            f"/api/v1/customers/{customer.id}/status",
            {"reason": "r", "label": label},
            format="json",
        )
        assert moved.status_code == 200
    # when Gold is deleted
    response = admin_api.delete(f"/api/v1/status_labels/{gold.id}")
    # then it is refused: the history refers to it
    assert response.status_code == 409
    assert only_error(response) == HISTORY_REFUSAL
    assert StatusLabel.objects.filter(pk=gold.pk).exists()


def test_a_label_only_moved_to_is_kept(admin_api):
    # given a change to Gold whose customer no longer holds it (the label was swapped without
    # a recorded change, as a data fix would), so Gold is only ever a change's target
    gold = new_label("Gold")
    customer = CustomerFactory()
    StatusChange.objects.create(
        customer=customer, from_label=None, to_label=gold, reason="import", source="API"
    )
    assert customer.status_label.name == "Active"
    # when it is deleted, then it is refused
    response = admin_api.delete(f"/api/v1/status_labels/{gold.id}")
    assert response.status_code == 409
    assert only_error(response) == HISTORY_REFUSAL
    assert StatusLabel.objects.filter(pk=gold.pk).exists()


def test_a_label_only_moved_from_is_kept(admin_api):
    # given a customer created with Gold and moved away from it: Gold is only a change's source
    gold = new_label("Gold")
    customer = CustomerFactory(status_label=gold)
    changer = make_client("statuses.change_customer_status")
    moved = changer.put(
        f"/api/v1/customers/{customer.id}/status",
        {"reason": "r", "label": "Suspended"},
        format="json",
    )
    assert moved.status_code == 200
    assert list(StatusChange.objects.values_list("from_label", "to_label__name")) == [
        (gold.id, "Suspended")
    ]
    # when it is deleted, then it is refused
    response = admin_api.delete(f"/api/v1/status_labels/{gold.id}")
    assert response.status_code == 409
    assert only_error(response) == HISTORY_REFUSAL
    assert StatusLabel.objects.filter(pk=gold.pk).exists()


def test_a_label_absent_from_other_labels_history_can_go(admin_api):
    # given history that names other labels only
    gold = new_label("Gold")
    changer = make_client("statuses.change_customer_status")
    moved = changer.put(
        f"/api/v1/customers/{CustomerFactory().id}/status",
        {"reason": "r", "label": "Suspended"},
        format="json",
    )
    assert moved.status_code == 200
    # when Gold is deleted, then it goes, with who and why in its history
    response = admin_api.delete(
        f"/api/v1/status_labels/{gold.id}", {"reason": "unused"}, format="json"
    )
    assert response.status_code == 204
    assert not StatusLabel.objects.filter(pk=gold.pk).exists()
    record = StatusLabel.history.filter(id=gold.id, history_type="-").get()
    assert (record.history_user, record.history_change_reason) == (admin_api.user, "unused")


def test_a_label_deleted_in_the_admin_records_the_user_and_the_admin_reason():
    # given a label nobody holds and a back-office user
    gold = new_label("Gold")
    boss = UserFactory(username="boss", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(boss)
    # when it is deleted from its admin page (the page asks for no reason)
    response = client.post(f"/admin/statuses/statuslabel/{gold.pk}/delete/", {"post": "yes"})
    # then it is gone, and its history names the user and the admin's default reason
    assert response.status_code == 302
    assert not StatusLabel.objects.filter(pk=gold.pk).exists()
    record = StatusLabel.history.filter(id=gold.id, history_type="-").get()
    assert (record.history_user, record.history_change_reason) == (boss, "Deleted in the admin")


def test_a_label_deleted_without_a_reason_has_no_reason_in_its_history():
    # given a label nobody holds or ever held, and a signed-in user
    spare = label_save(
        label=None, data={"name": "Spare", "status": Status.objects.get(name="Active")}, actor=None
    )
    user = UserFactory()
    # when the service deletes it without naming a reason
    label_delete(label=spare, actor=user)
    # then the history row names the user and no reason (not a placeholder)
    record = StatusLabel.history.filter(id=spare.id, history_type="-").get()
    assert (record.history_user, record.history_change_reason) == (user, None)
    assert not StatusLabel.objects.filter(pk=spare.pk).exists()
