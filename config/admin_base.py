"""The base of every model admin of the project: saves and deletes go through the services.

Django's ModelAdmin writes the model itself (``form.save()``, ``obj.delete()``,
``queryset.delete()``), which skips what the services own: their rules (the default status
label cannot be renamed), the history's who and why, and side effects such as resetting the
cached segment rules. A subclass declares three hooks that call its app's services; this class
calls them with a reason and turns a refusal (a ``DomainError``, or a Django
``ValidationError`` raised by a service) into what the person sees, the same on every page:

- on save, the form again with the service's message on its field (or above the form);
- on delete, the object's page again with the message as an error;
- on "Delete selected", each object through the service in its own transaction: the others
  are deleted, each refused one is named in an error message.

Nothing a service refuses is written. No request leaves anything on the admin instance, which
every request and thread share: what one request needs is passed along, or kept on the request.
"""

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.utils import model_ngettext, quote, unquote
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import models, router, transaction
from django.forms import BaseForm, BaseFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from config.exceptions import DomainError

# Where the second pass of a refused save finds the refusal (see ``changeform_view``).
REFUSAL_ATTRIBUTE = "_service_refusal"
# A "Delete selected" names this many refused objects, then counts the rest.
REFUSALS_LISTED = 10


class Refused(Exception):
    """A service refused a write the admin asked for: its messages, each with the form field
    it is about (None: the whole form)."""

    def __init__(self, errors: list[tuple[str | None, str]]):
        super().__init__(" ".join(message for _, message in errors))
        self.errors = errors


def refusal_of(error: DomainError | ValidationError) -> Refused:
    """A service's exception as a ``Refused``, its messages kept with their fields."""
    if isinstance(error, DomainError):
        return Refused([(error.attr, str(error))])
    if hasattr(error, "error_dict"):
        return Refused(
            [
                (None if field == NON_FIELD_ERRORS else field, message)
                for field, field_messages in error.message_dict.items()
                for message in field_messages
            ]
        )
    return Refused([(None, message) for message in error.messages])


@contextmanager
def refusals(*, about: str = "") -> Iterator[None]:
    """Turn a service's refusal inside the block into ``Refused``; with ``about`` (an inline
    row, say), its messages are about the whole form and start with ``about``."""
    try:
        yield
    except (DomainError, ValidationError) as error:
        refusal = refusal_of(error)
        if about:
            refusal = Refused([(None, f"{about}: {message}") for _, message in refusal.errors])
        raise refusal from error


class RefusedFormMixin:
    """A form that shows a refusal among its errors, so it is not valid and saves nothing."""

    refusal: Refused
    refusal_fields: dict[str, str | None]

    def clean(self):
        data = super().clean()
        for attr, message in self.refusal.errors:
            field = self.refusal_fields.get(attr, attr) if attr else None
            self.add_error(field if field in self.fields else None, message)
        return data


def adopt(obj: models.Model, saved: models.Model) -> None:
    """Give ``obj`` (the admin's instance) the state the service saved, for the pages and log
    entries Django makes from it after a save (its id, its cleaned name)."""
    if saved is obj:
        return
    for field in obj._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False
    obj._state.db = saved._state.db


class ServiceAdmin(admin.ModelAdmin):
    """A ModelAdmin whose saves and deletes call the app's services (see the module's doc).

    Subclasses implement ``service_create``, ``service_update`` and ``service_delete`` for the
    writes their permissions allow. Many-to-many fields are the service's to write from
    ``form.cleaned_data``; an editable inline needs its own ``save_formset`` calling services
    inside ``refusals(about=...)``. ``refusal_fields`` maps a service's error ``attr`` to the
    form field that shows it, where the names differ.
    """

    reason_created = "Created in the admin"
    reason_changed = "Changed in the admin"
    reason_deleted = "Deleted in the admin"
    refusal_fields: dict[str, str | None] = {}

    # --- hooks ---------------------------------------------------------------------------------

    def service_create(self, request: HttpRequest, *, form: BaseForm, reason: str) -> models.Model:
        """Create the object from ``form.cleaned_data`` through the service; return it."""
        raise NotImplementedError(f"{type(self).__name__} cannot create through a service.")

    def service_update(
        self, request: HttpRequest, *, obj: models.Model, form: BaseForm, reason: str
    ) -> models.Model:
        """Change ``obj`` from ``form.cleaned_data`` through the service; return it."""
        raise NotImplementedError(f"{type(self).__name__} cannot change through a service.")

    def service_delete(self, request: HttpRequest, *, obj: models.Model, reason: str) -> None:
        """Delete ``obj`` through the service."""
        raise NotImplementedError(f"{type(self).__name__} cannot delete through a service.")

    def change_reason(self, form: BaseForm | None, *, default: str) -> str:
        """The reason a form gives in its ``reason`` field, else ``default``."""
        given = (form.cleaned_data.get("reason") or "") if form is not None else ""
        return given.strip() or default

    # --- saving --------------------------------------------------------------------------------

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """A refused save rolls back the whole POST (Django runs it in one transaction), then
        the page is built again from the same data with the refusal among the form's errors."""
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except Refused as refusal:
            setattr(request, REFUSAL_ATTRIBUTE, refusal)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        refusal = getattr(request, REFUSAL_ATTRIBUTE, None)
        if refusal is None:
            return form
        attrs = {"refusal": refusal, "refusal_fields": self.refusal_fields}
        return type(form.__name__, (RefusedFormMixin, form), attrs)

    def save_model(
        self, request: HttpRequest, obj: models.Model, form: BaseForm, change: bool
    ) -> None:
        with refusals():
            if change:
                reason = self.change_reason(form, default=self.reason_changed)
                saved = self.service_update(request, obj=obj, form=form, reason=reason)
            else:
                reason = self.change_reason(form, default=self.reason_created)
                saved = self.service_create(request, form=form, reason=reason)
        adopt(obj, saved)

    def save_related(
        self, request: HttpRequest, form: BaseForm, formsets: list[BaseFormSet], change: bool
    ) -> None:
        """Inlines only: the service wrote the many-to-many fields with the object."""
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def save_formset(
        self, request: HttpRequest, form: BaseForm, formset: BaseFormSet, change: bool
    ) -> None:
        """An inline that only shows saves nothing; an editable one needs its own method,
        which also fills the lists Django's change message reads."""
        if formset.has_changed():
            raise NotImplementedError(
                f"{type(self).__name__} needs a save_formset that calls the services."
            )
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def history_form_view(
        self,
        request: HttpRequest,
        object_id: str,
        version_id: str,
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """django-simple-history's page of one past version (history admins only) is read-only:
        its POST would write that version back, many-to-many fields past the services."""
        if request.method == "POST":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

    # --- deleting ------------------------------------------------------------------------------

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        with refusals():
            self.service_delete(request, obj=obj, reason=self.reason_deleted)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """A refused delete rolls back (log entry included) and shows the object's page with
        the service's message."""
        try:
            return super().delete_view(request, object_id, extra_context)
        except Refused as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
            opts = self.opts
            if not self.has_view_or_change_permission(request):
                return HttpResponseRedirect(
                    reverse("admin:index", current_app=self.admin_site.name)
                )
            return HttpResponseRedirect(
                reverse(
                    f"admin:{opts.app_label}_{opts.model_name}_change",
                    args=[quote(unquote(object_id))],
                    current_app=self.admin_site.name,
                )
            )

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        """Each object through the service; the refused ones are named in error messages."""
        _, refused = self.each_through_service(queryset, partial(self._delete_logged, request))
        self.message_refusals(request, refused)

    def _delete_logged(self, request: HttpRequest, obj: models.Model) -> None:
        self.log_deletions(request, [obj])
        self.delete_model(request, obj)

    def get_actions(self, request: HttpRequest) -> dict:
        """Django's "Delete selected", when offered, is ours: same page, same permission."""
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            _, name, description = actions["delete_selected"]
            actions["delete_selected"] = (ServiceAdmin.delete_selected, name, description)
        return actions

    def delete_selected(self, request: HttpRequest, queryset: models.QuerySet):
        """Django's confirmation page, then each object through the service in its own
        transaction: a refusal keeps that object and is named; the others are deleted."""
        if not request.POST.get("post"):
            return django_delete_selected(self, request, queryset)
        _, _, perms_needed, protected = self.get_deleted_objects(queryset, request)
        if protected:
            return django_delete_selected(self, request, queryset)  # "Cannot delete" page
        if perms_needed:
            raise PermissionDenied
        done, refused = self.each_through_service(queryset, partial(self._delete_logged, request))
        if done:
            self.message_user(
                request,
                f"Successfully deleted {done} {model_ngettext(self.opts, done)}.",
                messages.SUCCESS,
            )
        self.message_refusals(request, refused)
        return None

    # --- actions -------------------------------------------------------------------------------

    def each_through_service(
        self, objects: Iterable[models.Model], write: Callable[[models.Model], object]
    ) -> tuple[int, list[str]]:
        """Call ``write(obj)`` for each object, each in its own transaction, so a refusal rolls
        back that object's write alone. Returns how many went through, and for each refused
        object its name and the service's message."""
        done, refused = 0, []
        for obj in objects:
            try:
                with transaction.atomic(using=router.db_for_write(self.model)), refusals():
                    write(obj)
            except Refused as refusal:
                refused.append(f"{obj}: {refusal}")
            else:
                done += 1
        return done, refused

    def message_refusals(self, request: HttpRequest, refused: list[str]) -> None:
        """The refusals of ``each_through_service`` as error messages, the first ten named."""
        for message in refused[:REFUSALS_LISTED]:
            self.message_user(request, message, messages.ERROR)
        if len(refused) > REFUSALS_LISTED:
            self.message_user(
                request, f"… and {len(refused) - REFUSALS_LISTED} more refused.", messages.ERROR
            )
