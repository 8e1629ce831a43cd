"""The admin site: Django's, with the back office's dashboard on its index page."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.template.response import TemplateResponse

from config.dashboard import dashboard


class ValidSelectionMixin:
    """An action posted with ids that are not ids of the model (a forged or stale form) warns
    and shows the list again, as Django does for an empty selection, instead of failing with a
    500 in the ``pk__in`` filter Django builds unguarded. With "select all" the ids are
    ignored, as Django does."""

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


class TagdeskAdminSite(admin.AdminSite):
    site_header = "Tagdesk back office"
    site_title = "Tagdesk"
    index_title = "Customers, tags, segments and statuses"

    def register(self, model_or_iterable, admin_class=None, **options) -> None:
        """Every model admin, Django's own (users, groups) included, checks a posted selection."""
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, ValidSelectionMixin):
            admin_class = type(admin_class.__name__, (ValidSelectionMixin, admin_class), {})
        super().register(model_or_iterable, admin_class, **options)

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> TemplateResponse:
        """The app list plus the dashboard (templates/admin/index.html), for staff who may
        see customers; the figures come from the apps' selectors."""
        context = {"dashboard": dashboard(user=request.user), **(extra_context or {})}
        return super().index(request, context)
