"""What every model admin gets from the site: a list page and an action that refuse garbage."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ERROR_FLAG
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponseRedirect

from config.text import find_unstorable


class InputGuardMixin:
    """Garbage a list page cannot use is the client's error, never a 500.

    - A query parameter holding text the database cannot take (NUL, an unpaired surrogate) is
      a bad filter: the list redirects with ``?e=1``, as Django does for any other.
    - An action posted with ids that are not ids of the model (a forged or stale form) warns
      and shows the list again, as Django does for an empty selection, instead of failing in
      the ``pk__in`` filter Django builds unguarded. With "select all" the ids are ignored.
    """

    def changelist_view(self, request: HttpRequest, extra_context=None):
        if any(find_unstorable(key) or find_unstorable(value)
               for key, values in request.GET.lists() for value in values):  # fmt: skip
            return HttpResponseRedirect(f"{request.path}?{ERROR_FLAG}=1")
        return super().changelist_view(request, extra_context)

    def response_action(self, request: HttpRequest, queryset):
        pk = self.model._meta.pk
        across = forms.BooleanField().to_python(request.POST.get("select_across"))
        try:
            for value in [] if across else request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME):
                pk.to_python(value)
        except (ValidationError, ValueError, TypeError):
            self.message_user(
                request,
                "The selection names items that do not exist; select them again.",
                messages.WARNING,
            )
            return None
        return super().response_action(request, queryset)
