"""Authentication backend that loads a user's permissions in one query instead of two, and the
admin's login form with the sign-in brake."""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import backends
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.db.models import Q

from config.auth_failures import (
    auth_failure_record,
    auth_lockout_wait,
    auth_success_record,
    lockout_message,
)


class ModelBackend(backends.ModelBackend):
    """Django's ModelBackend; user and group permissions come from a single query.

    Every API request checks permissions, so this saves a query on each of them.
    """

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            permissions = Permission.objects.all()
            if not user_obj.is_superuser:
                permissions = permissions.filter(Q(user=user_obj) | Q(group__user=user_obj))
            user_obj._perm_cache = {
                f"{app_label}.{codename}"
                for app_label, codename in permissions.values_list(
                    "content_type__app_label", "codename"
                ).order_by()
            }
        return user_obj._perm_cache


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin's login form with the sign-in brake (config.auth_failures): while the address
    or the username is locked it says so and checks no password."""

    def clean(self) -> dict:
        username = self.cleaned_data.get("username")
        if wait := auth_lockout_wait(request=self.request, username=username):
            raise ValidationError(lockout_message(wait), code="too_many_attempts")
        try:
            cleaned = super().clean()
        except ValidationError as error:
            if error.code == "invalid_login":
                auth_failure_record(request=self.request, username=username)
            raise
        auth_success_record(request=self.request, username=username)
        return cleaned
