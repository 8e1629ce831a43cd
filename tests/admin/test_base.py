"""config.admin_base: every model admin of the project writes through its services, and a
service's refusal looks the same on every page."""

import pytest
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from django_tasks_db.models import DBTaskResult

from config import exceptions
from config.admin_base import ServiceAdmin
from customers import services as customer_services
from customers.models import Customer
from segments import services as segment_services
from segments.models import Segment
from segments.services import segment_save
from statuses.models import StatusLabel
from tests.admin.pages import (
    bulk_delete,
    deletions_logged,
    form_errors,
    messages_of,
    model_admin,
    posted_back,
    url_of,
)
from tests.factories import CustomerFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_the_jobs_admin_only_shows_jobs(rf):
    # the jobs table is the job engine's: staff read it, nothing in the admin writes it

    request = rf.get("/")
    request.user = UserFactory(is_staff=True, is_superuser=True)
    jobs = admin.site._registry[DBTaskResult]
    assert not jobs.has_add_permission(request)
    assert not jobs.has_change_permission(request)
    assert not jobs.has_delete_permission(request)


def test_every_model_admin_of_the_project_writes_through_the_services():
    ours = {
        model._meta.label: model_admin
        for model, model_admin in admin.site._registry.items()
        if model.__module__.split(".")[0] in {"config", "customers", "tags", "statuses", "segments"}
    }
    assert set(ours) == {
        "api.ApiToken",
        "customers.Customer",
        "segments.Segment",
        "statuses.Status",
        "statuses.StatusChange",
        "statuses.StatusLabel",
        "tags.ChangeSet",
        "tags.Tag",
        "webhooks.WebhookDelivery",
        "webhooks.WebhookEndpoint",
    }
    assert all(isinstance(model_admin, ServiceAdmin) for model_admin in ours.values())


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (exceptions.Conflict("Taken.", attr="email"), {"email": ["Taken."]}),
        (exceptions.PermissionDenied("Not you."), {"__all__": ["Not you."]}),
        (exceptions.NotFound("Gone.", attr="no_such_field"), {"__all__": ["Gone."]}),
        (ValidationError({"mobile": "Bad mobile."}), {"mobile": ["Bad mobile."]}),
        (ValidationError(["One.", "Two."]), {"__all__": ["One.", "Two."]}),
    ],
    ids=["on-its-field", "403-class", "unknown-field", "django-dict", "django-list"],
)
def test_any_refusal_of_a_service_is_a_form_error_and_nothing_is_written(
    boss, monkeypatch, error, shown
):
    # given a service that writes, then refuses
    customer = CustomerFactory(name="Ada")

    def update_then_refuse(*, customer, **kwargs):
        Customer.objects.filter(pk=customer.pk).update(name="written")
        raise error

    monkeypatch.setattr(customer_services, "customer_update", update_then_refuse)
    page = boss.get(url_of(Customer, customer.pk, "change"))

    # when the form is saved
    response = boss.post(page.request["PATH_INFO"], posted_back(page, name="Ada L."))

    # then the same page again, with the posted data and the refusal, and nothing written
    assert form_errors(response) == shown
    assert response.context["adminform"].form["name"].value() == "Ada L."
    customer.refresh_from_db()
    assert customer.name == "Ada"
    assert not boss.user.logentry_set.exists()


def test_a_refused_delete_is_a_message_on_the_objects_page_and_nothing_is_deleted(
    boss, monkeypatch
):
    customer = CustomerFactory()

    def refuse(**kwargs):
        raise exceptions.Conflict("Still needed.")

    monkeypatch.setattr(customer_services, "customer_delete", refuse)
    response = boss.post(url_of(Customer, customer.pk, "delete"), {"post": "yes"})

    assert response.status_code == 302
    assert response["Location"] == url_of(Customer, customer.pk, "change")
    assert messages_of(response) == [("error", "Still needed.")]
    assert Customer.objects.filter(pk=customer.pk).exists()
    assert deletions_logged(Customer) == set()


def test_delete_selected_names_ten_refusals_and_counts_the_rest(boss, monkeypatch):
    # given 13 segments, of which the service refuses every one but "a"
    TagFactory(name="vip")
    segments = [
        segment_save(segment=None, data={"name": n, "rule": {"all": ["vip"]}}, actor=None)
        for n in "abcdefghijklm"
    ]
    delete = segment_services.segment_delete

    def refuse_but_a(*, segment, **kwargs):
        if segment.name != "a":
            raise exceptions.Conflict(f"{segment.name} is in use.")
        delete(segment=segment, **kwargs)

    monkeypatch.setattr(segment_services, "segment_delete", refuse_but_a)

    response = bulk_delete(boss, Segment, segments)

    assert messages_of(response) == [
        ("success", "Successfully deleted 1 segment."),
        *[("error", f"{n}: {n} is in use.") for n in "bcdefghijk"],
        ("error", "… and 2 more refused."),
    ]
    assert sorted(Segment.objects.values_list("name", flat=True)) == list("bcdefghijklm")
    assert deletions_logged(Segment) == {segments[0].pk}


def test_a_past_version_cannot_be_written_back_from_its_history_page(boss):
    label = StatusLabel.objects.get(name="Inactive")
    label.description = "old"
    label.save()
    version = label.history.latest("history_id")
    StatusLabel.objects.filter(pk=label.pk).update(description="new")
    url = f"{url_of(StatusLabel, label.pk, 'history')}{version.history_id}/"

    assert boss.get(url).status_code == 200  # to read
    response = boss.post(url, {"name": "Inactive", "status": label.status_id, "description": "old"})

    assert response.status_code == 403
    label.refresh_from_db()
    assert label.description == "new"


def test_delete_queryset_called_directly_also_deletes_through_the_service(boss):
    customers = CustomerFactory.create_batch(2)
    request = RequestFactory().post(url_of(Customer))
    request.user = boss.user

    model_admin(Customer).delete_queryset(request, Customer.objects.all())

    assert not Customer.objects.exists()
    assert {(h.id, h.history_change_reason) for h in Customer.history.filter(history_type="-")} == {
        (c.pk, "Deleted in the admin") for c in customers
    }
    assert deletions_logged(Customer) == {c.pk for c in customers}
