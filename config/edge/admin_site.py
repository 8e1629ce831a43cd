"""The admin site: Django's, with the back office's dashboard on its index page."""

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse

from config.admin_guard import InputGuardMixin
from config.auth import ThrottledAdminAuthenticationForm
from config.edge.dashboard import dashboard


class TagdeskAdminSite(admin.AdminSite):
    site_header = "Tagdesk back office"
    site_title = "Tagdesk"
    index_title = "Customers, tags, segments and statuses"
    login_form = ThrottledAdminAuthenticationForm

    def register(self, model_or_iterable, admin_class=None, **options) -> None:
        """Every model admin, Django's own (users, groups) included, checks a posted selection."""
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, InputGuardMixin):
            admin_class = type(admin_class.__name__, (InputGuardMixin, admin_class), {})
        super().register(model_or_iterable, admin_class, **options)

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> TemplateResponse:
        """The app list plus the dashboard (templates/admin/index.html), for staff who may
        see customers; the figures come from the apps' selectors."""
        context = {"dashboard": dashboard(user=request.user), **(extra_context or {})}
        return super().index(request, context)
