"""The status, label and status-change admins write through statuses.services: the default
label can be neither renamed nor deleted from the back office, whichever page is used."""

import pytest
from django.conf import settings

from customers.services import customer_status_change
from statuses.models import Status, StatusChange, StatusLabel
from tests.admin.pages import (
    bulk_delete,
    deletions_logged,
    form_errors,
    messages_of,
    posted_back,
    url_of,
)
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
RENAME_REFUSED = (
    "'Active' is the default label for new customers (DEFAULT_STATUS_LABEL); it cannot be renamed."
)
DELETE_REFUSED = "'Active' is the default label for new customers; it cannot be deleted."


@pytest.fixture
def default_label() -> StatusLabel:
    return StatusLabel.objects.get(name=settings.DEFAULT_STATUS_LABEL)


def history_of(obj) -> list[tuple[str, str, str | None]]:
    return [
        (
            h.history_type,
            h.history_user.username if h.history_user else None,
            h.history_change_reason,
        )
        for h in obj.history.order_by("history_id")
    ]


# --- statuses ------------------------------------------------------------------------------


def test_adding_a_status_goes_through_the_service_with_the_admin_reason(boss, default_label):
    page = boss.get(url_of(Status, "add"))
    data = posted_back(
        page, name="  On   hold ", description="Paused", allowed_next=[default_label.pk]
    )

    assert boss.post(url_of(Status, "add"), data).status_code == 302

    status = Status.objects.get(name="On hold")  # the name cleaned as the service stores it
    assert list(status.allowed_next.all()) == [default_label]
    assert history_of(status) == [("+", "boss", "Created in the admin")]


def test_renaming_the_default_label_on_its_status_page_is_refused(boss, default_label):
    # given the Active status, whose inline lists the default label
    status = default_label.status
    page = boss.get(url_of(Status, status.pk, "change"))
    row = next(n.removesuffix("-id") for n, v in posted_back(page).items() if v == default_label.pk)

    # when staff rename the label in the inline
    response = boss.post(page.request["PATH_INFO"], posted_back(page, **{f"{row}-name": "Live"}))

    # then the page comes back with the service's refusal, and nothing changed
    assert form_errors(response) == {"__all__": [f"Label 'Active': {RENAME_REFUSED}"]}
    default_label.refresh_from_db()
    assert default_label.name == "Active"
    assert default_label.history.count() == status.history.count() == 0


def test_a_label_added_on_its_status_page_goes_through_the_service(boss):
    status = Status.objects.get(name="Inactive")
    page = boss.get(url_of(Status, status.pk, "change"))
    data = posted_back(page, description="Gone quiet")
    data.update(
        {
            "labels-TOTAL_FORMS": str(int(data["labels-TOTAL_FORMS"]) + 1),
            "labels-1-name": "Dormant",
            "labels-1-description": "No order in a year",
            "labels-1-status": status.pk,
        }
    )

    assert boss.post(page.request["PATH_INFO"], data).status_code == 302

    label = StatusLabel.objects.get(name="Dormant")
    assert (label.status, label.description) == (status, "No order in a year")
    assert history_of(label) == [("+", "boss", "Changed in the admin")]
    assert history_of(status) == [("~", "boss", "Changed in the admin")]


def test_deleting_a_status_goes_through_the_service(boss):
    status = Status.objects.create(name="Spare")
    response = boss.post(url_of(Status, status.pk, "delete"), {"post": "yes"})
    assert response.status_code == 302
    assert not Status.objects.filter(pk=status.pk).exists()
    assert history_of(status) == [("+", None, None), ("-", "boss", "Deleted in the admin")]
    assert deletions_logged(Status) == {status.pk}


def test_delete_selected_refuses_a_status_that_still_has_labels(boss):
    spare = Status.objects.create(name="Spare")
    inactive = Status.objects.get(name="Inactive")

    response = bulk_delete(boss, Status, [spare, inactive])

    assert response.status_code == 200  # Django's "cannot delete" page: a label is protected
    assert set(Status.objects.filter(pk__in=[spare.pk, inactive.pk])) == {spare, inactive}
    assert deletions_logged(Status) == set()


# --- labels --------------------------------------------------------------------------------


def test_adding_a_label_goes_through_the_service_with_the_admin_reason(boss):
    inactive = Status.objects.get(name="Inactive")
    page = boss.get(url_of(StatusLabel, "add"))
    response = boss.post(
        url_of(StatusLabel, "add"), posted_back(page, name="Dormant", status=inactive.pk)
    )
    assert response.status_code == 302
    label = StatusLabel.objects.get(name="Dormant")
    assert label.status == inactive
    assert history_of(label) == [("+", "boss", "Created in the admin")]


def test_renaming_the_default_label_is_refused_on_the_form(boss, default_label):
    page = boss.get(url_of(StatusLabel, default_label.pk, "change"))

    response = boss.post(page.request["PATH_INFO"], posted_back(page, name="Live"))

    assert form_errors(response) == {"__all__": [RENAME_REFUSED]}
    default_label.refresh_from_db()
    assert default_label.name == "Active"
    assert not default_label.history.exists()


def test_changing_a_label_records_the_admin_reason(boss):
    label = StatusLabel.objects.get(name="Inactive")
    page = boss.get(url_of(StatusLabel, label.pk, "change"))
    response = boss.post(page.request["PATH_INFO"], posted_back(page, description="Quiet"))
    assert response.status_code == 302
    label.refresh_from_db()
    assert label.description == "Quiet"
    assert history_of(label) == [("~", "boss", "Changed in the admin")]


def test_deleting_the_default_label_is_refused_with_a_message(boss, default_label):
    response = boss.post(url_of(StatusLabel, default_label.pk, "delete"), {"post": "yes"})

    assert response.status_code == 302
    assert response["Location"] == url_of(StatusLabel, default_label.pk, "change")
    assert messages_of(response) == [("error", DELETE_REFUSED)]
    assert StatusLabel.objects.filter(pk=default_label.pk).exists()
    assert deletions_logged(StatusLabel) == set()


def test_deleting_a_label_goes_through_the_service(boss):
    label = StatusLabel.objects.create(name="Dormant", status=Status.objects.get(name="Inactive"))
    response = boss.post(url_of(StatusLabel, label.pk, "delete"), {"post": "yes"})
    assert response.status_code == 302
    assert not StatusLabel.objects.filter(pk=label.pk).exists()
    assert history_of(label)[-1] == ("-", "boss", "Deleted in the admin")
    assert deletions_logged(StatusLabel) == {label.pk}


def test_delete_selected_keeps_the_default_label_and_deletes_the_others(boss, default_label):
    # given the default label (no customer holds it) and an unused label, both selected
    StatusChange.objects.all().delete()
    CustomerFactory._meta.model.objects.all().delete()
    spare = StatusLabel.objects.create(name="Spare", status=default_label.status)

    response = bulk_delete(boss, StatusLabel, [default_label, spare])

    # then the guard of label_delete keeps the default label, and says so
    assert list(StatusLabel.objects.filter(pk__in=[default_label.pk, spare.pk])) == [default_label]
    assert messages_of(response) == [
        ("success", "Successfully deleted 1 status label."),
        ("error", f"Active – Active: {DELETE_REFUSED}"),
    ]
    assert deletions_logged(StatusLabel) == {spare.pk}
    assert history_of(spare)[-1] == ("-", "boss", "Deleted in the admin")


# --- status changes: append-only -----------------------------------------------------------


def test_status_changes_cannot_be_added_changed_or_deleted(boss):
    customer = CustomerFactory()
    change = customer_status_change(
        customer=customer, label="Inactive", reason="r", source="API", actor=None
    ).change

    assert boss.get(url_of(StatusChange, "add")).status_code == 403
    assert boss.post(url_of(StatusChange, "add"), {"reason": "x"}).status_code == 403
    assert boss.post(url_of(StatusChange, change.pk, "change"), {"reason": "x"}).status_code == 403
    assert boss.post(url_of(StatusChange, change.pk, "delete"), {"post": "yes"}).status_code == 403
    response = bulk_delete(boss, StatusChange, [change])

    assert response.status_code == 200  # the list again: it offers no action at all
    assert response.context["action_form"] is None
    assert list(StatusChange.objects.values_list("pk", "reason")) == [(change.pk, "r")]
