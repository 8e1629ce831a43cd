"""What a person does in the admin, as test-client calls: sign in, post a form back, delete."""

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.db import models
from django.http import HttpResponse
from django.test import Client

from tests.factories import UserFactory


def signed_in(**user: Any) -> Client:
    """A test client signed in as a new user (``client.user``)."""
    client = Client()
    client.user = UserFactory(**user)
    client.force_login(client.user)
    return client


def url_of(model: type[models.Model], *parts: object) -> str:
    """``/admin/<app>/<model>/`` followed by ``parts`` (an id, "change", "delete"…)."""
    path = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
    return path + "".join(f"{part}/" for part in parts)


def model_admin(model: type[models.Model]) -> admin.ModelAdmin:
    return admin.site._registry[model]


def messages_of(response: HttpResponse) -> list[tuple[str, str]]:
    """The messages a response queued, as (level tag, text)."""
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def form_errors(response: HttpResponse) -> dict[str, list[str]]:
    """The change form's errors by field ("__all__" for the form's own), as shown."""
    assert response.status_code == 200, response.status_code
    return {
        field: list(errors) for field, errors in response.context["adminform"].form.errors.items()
    }


def _posted(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "on" if value else None
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return str(value)


def _form_data(form, data: dict[str, Any]) -> None:
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field, forms.MultipleChoiceField | forms.ModelMultipleChoiceField):
            value = value or []
        value = _posted(value)
        if value is not None:
            data[form.add_prefix(name)] = value


def posted_back(page: HttpResponse, **changes: Any) -> dict[str, Any]:
    """The data a browser posts from a change page (its inlines included) with ``changes``.

    An inline's field is named with its prefix: ``labels-0-name``. A change to ``None``
    leaves the field out, as a browser does with an unticked box.
    """
    assert page.status_code == 200, page.status_code
    data: dict[str, Any] = {}
    _form_data(page.context["adminform"].form, data)
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        _form_data(formset.management_form, data)
        for form in formset.forms:
            _form_data(form, data)
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def bulk_delete(client: Client, model: type[models.Model], objects: list) -> HttpResponse:
    """ "Delete selected", confirmed: Django's action posted with ``post=yes``."""
    return client.post(
        url_of(model),
        {"action": "delete_selected", "_selected_action": [o.pk for o in objects], "post": "yes"},
    )


def deletions_logged(model: type[models.Model]) -> set[str]:
    """Ids of ``model`` objects the admin's own log records as deleted."""
    return set(
        LogEntry.objects.filter(
            action_flag=3, content_type__app_label=model._meta.app_label,
            content_type__model=model._meta.model_name,
        ).values_list("object_id", flat=True)
    )  # fmt: skip
