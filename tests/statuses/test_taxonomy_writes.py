"""Creating and changing statuses and labels: what is stored (descriptions, transition rules),
the exact refusals, and the history row each write leaves (who and why)."""

import pytest
from django.db import connection

from config.exceptions import InvalidInput
from statuses.models import Status, StatusLabel
from statuses.services import label_save, status_save, statuses_ensure_defaults
from tests.conftest import make_client
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db
DEFAULT_PAIRS = {("Active", "Active"), ("Inactive", "Inactive"), ("Suspended", "Suspended")}


@pytest.fixture
def admin_api(db):
    client = make_client(username="root")
    client.user.is_superuser = True
    client.user.save()
    return client


@pytest.fixture
def changer(db):
    return make_client("statuses.change_customer_status")


def only_error(response) -> dict:
    (error,) = response.json()["errors"]
    return error


def move(client, customer, label: str):
    return client.put(
        f"/api/v1/customers/{customer.id}/status", {"reason": "r", "label": label}, format="json"
    )


# --- descriptions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "envelope", "body"),
    [
        ("/api/v1/statuses/", "status", {"name": "Dormant"}),
        ("/api/v1/status_labels/", "status_label", {"name": "Sleeping", "status": "Active"}),
    ],
)
def test_a_description_can_be_cleared(admin_api, url, envelope, body):
    # given a status or label with a description
    created = admin_api.post(url, {**body, "description": "No orders"}, format="json")
    assert created.status_code == 201
    object_id = created.json()[envelope]["id"]
    # when the description is set to an empty string
    cleared = admin_api.patch(f"{url}{object_id}", {"description": ""}, format="json")
    # then it is empty, in the answer and in the row
    assert cleared.status_code == 200
    assert cleared.json()[envelope]["description"] == ""
    model = Status if envelope == "status" else StatusLabel
    assert model.objects.get(pk=object_id).description == ""


# --- transition rules set through the API ------------------------------------------------------


def test_a_labels_allowed_next_set_through_the_api_limits_moves(admin_api, changer):
    # given Suspended customers may only move to Inactive, set on the label
    suspended = StatusLabel.objects.get(name="Suspended")
    response = admin_api.patch(
        f"/api/v1/status_labels/{suspended.id}", {"allowed_next": ["inactive"]}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status_label"]["allowed_next"] == ["Inactive"]
    customer = CustomerFactory(status_label=suspended)
    # when the customer is moved to Active, then to Inactive
    refused, allowed = move(changer, customer, "Active"), move(changer, customer, "Inactive")
    # then the first is refused by the rule, the second applies
    assert refused.status_code == 409
    assert only_error(refused)["code"] == "transition_not_allowed"
    assert allowed.status_code == 200
    customer.refresh_from_db()
    assert customer.status_label.name == "Inactive"


def test_a_statuss_allowed_next_set_through_the_api_limits_moves(admin_api, changer):
    # given customers in the Suspended status may only move to Inactive, set on the status
    suspended = Status.objects.get(name="Suspended")
    response = admin_api.patch(
        f"/api/v1/statuses/{suspended.id}", {"allowed_next": ["Inactive"]}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"]["allowed_next"] == ["Inactive"]
    customer = CustomerFactory(status_label=StatusLabel.objects.get(name="Suspended"))
    # when the customer is moved to Active, then to Inactive
    refused, allowed = move(changer, customer, "Active"), move(changer, customer, "Inactive")
    # then the first is refused by the status's rule, the second applies
    assert refused.status_code == 409
    assert only_error(refused) == {
        "code": "transition_not_allowed",
        "detail": "A customer labelled 'Suspended' cannot move to 'Active'; allowed: Inactive.",
        "attr": "label",
    }
    assert allowed.status_code == 200


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "body", "detail"),
    [
        ("/api/v1/statuses/", {"name": "ACTIVE "}, "A status named 'ACTIVE ' already exists."),
        (
            "/api/v1/status_labels/",
            {"name": "suspended", "status": "Active"},
            "A status label named 'suspended' already exists.",
        ),
    ],
)
def test_a_taken_name_is_a_409_duplicate_name(admin_api, url, body, detail):
    before = (Status.objects.count(), StatusLabel.objects.count())
    response = admin_api.post(url, body, format="json")
    assert response.status_code == 409
    assert only_error(response) == {"code": "duplicate_name", "detail": detail, "attr": "name"}
    assert (Status.objects.count(), StatusLabel.objects.count()) == before


def test_renaming_a_label_to_a_taken_name_is_a_409_duplicate_name(admin_api):
    gold = label_save(
        label=None, data={"name": "Gold", "status": Status.objects.get(name="Active")}, actor=None
    )
    response = admin_api.patch(
        f"/api/v1/status_labels/{gold.id}", {"name": "Inactive"}, format="json"
    )
    assert response.status_code == 409
    assert only_error(response) == {
        "code": "duplicate_name",
        "detail": "A status label named 'Inactive' already exists.",
        "attr": "name",
    }
    assert StatusLabel.objects.get(pk=gold.pk).name == "Gold"


@pytest.mark.parametrize("url", ["/api/v1/statuses/", "/api/v1/status_labels/"])
def test_losing_a_race_for_a_name_is_a_409_duplicate_name(admin_api, url):
    """Another writer commits the same name between the uniqueness check and the INSERT (the
    database's unique constraint decides): a 409, not a 500."""
    model = Status if url == "/api/v1/statuses/" else StatusLabel
    table = model._meta.db_table
    rival_written = []

    def rival_commits_first(execute, sql, params, many, context):
        if not rival_written and sql.startswith(f'INSERT INTO "{table}"'):
            rival_written.append(True)
            if model is Status:
                Status.objects.create(name="Gold")
            else:
                StatusLabel.objects.create(name="Gold", status=Status.objects.get(name="Active"))
        return execute(sql, params, many, context)

    body = {"name": "Gold"} if model is Status else {"name": "Gold", "status": "Active"}
    with connection.execute_wrapper(rival_commits_first):
        response = admin_api.post(url, body, format="json")
    assert rival_written
    assert response.status_code == 409
    noun = model._meta.verbose_name
    assert only_error(response) == {
        "code": "duplicate_name",
        "detail": f"A {noun} with this name already exists.",
        "attr": "name",
    }


def test_the_default_label_cannot_be_renamed(admin_api):
    active = StatusLabel.objects.get(name="Active")
    response = admin_api.patch(
        f"/api/v1/status_labels/{active.id}", {"name": "Live"}, format="json"
    )
    assert response.status_code == 409
    assert only_error(response) == {
        "code": "default_label",
        "detail": "'Active' is the default label for new customers (DEFAULT_STATUS_LABEL); "
        "it cannot be renamed.",
        "attr": None,
    }
    assert StatusLabel.objects.get(pk=active.pk).name == "Active"


def test_the_default_label_keeps_its_name_in_another_case(admin_api):
    active = StatusLabel.objects.get(name="Active")
    response = admin_api.patch(
        f"/api/v1/status_labels/{active.id}", {"name": "ACTIVE"}, format="json"
    )
    assert response.status_code == 200
    assert StatusLabel.objects.get(pk=active.pk).name == "ACTIVE"


def test_a_label_under_a_status_deleted_meanwhile_is_refused():
    # given a status found by name, deleted before the label is written
    dormant = Status.objects.create(name="Dormant")
    Status.objects.filter(pk=dormant.pk).delete()
    # when a label is created under it, then it is refused and nothing is written
    with pytest.raises(InvalidInput) as refused:
        label_save(label=None, data={"name": "Sleeping", "status": dormant}, actor=None)
    assert (str(refused.value), refused.value.code, refused.value.attr) == (
        "No status named 'Dormant'.",
        "does_not_exist",
        "status",
    )
    assert not StatusLabel.objects.filter(name="Sleeping").exists()


# --- history --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "envelope", "body"),
    [
        ("/api/v1/statuses/", "status", {"name": "Dormant"}),
        ("/api/v1/status_labels/", "status_label", {"name": "Sleeping", "status": "Active"}),
    ],
)
def test_creating_and_changing_record_who_and_why(admin_api, url, envelope, body):
    model = Status if envelope == "status" else StatusLabel
    created = admin_api.post(url, {**body, "reason": "new range"}, format="json")
    object_id = created.json()[envelope]["id"]
    admin_api.patch(
        f"{url}{object_id}", {"description": "d", "reason": "documented"}, format="json"
    )
    rows = model.history.filter(id=object_id).order_by("history_id")
    assert [(r.history_type, r.history_user, r.history_change_reason) for r in rows] == [
        ("+", admin_api.user, "new range"),
        ("~", admin_api.user, "documented"),
    ]


def test_service_writes_without_a_reason_record_none():
    # given a signed-in user writing through the services without naming a reason
    user = UserFactory()
    status = status_save(status=None, data={"name": "Dormant"}, actor=user)
    label = label_save(label=None, data={"name": "Sleeping", "status": status}, actor=user)
    # then the history rows name the user and no reason (not a placeholder)
    for model, pk in ((Status, status.pk), (StatusLabel, label.pk)):
        record = model.history.filter(id=pk).get()
        assert (record.history_user, record.history_change_reason) == (user, None)


def test_missing_defaults_are_put_back():
    # given a default status and its label gone (as after a flush of those rows)
    StatusLabel.objects.filter(name="Suspended").delete()
    Status.objects.filter(name="Suspended").delete()
    kept = StatusLabel.objects.get(name="Inactive").pk
    # when the defaults are ensured
    statuses_ensure_defaults()
    # then the missing pair is back and the others are the same rows
    assert set(StatusLabel.objects.values_list("name", "status__name")) == DEFAULT_PAIRS
    assert StatusLabel.objects.get(name="Inactive").pk == kept
