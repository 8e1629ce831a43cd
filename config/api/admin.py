from django.contrib import admin, messages

from config.admin_base import ServiceAdmin
from config.api import services
from config.api.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(ServiceAdmin):
    """Tokens are issued here; the secret is shown once, in the confirmation message. An
    issued token is never changed: it is revoked (kept, for the record) or deleted."""

    list_display = (
        "hint",
        "user",
        "name",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("revoked_at",)
    search_fields = ("user__username", "name", "hint")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)
    actions = ["revoke"]
    fields = ("user", "name", "expires_at", "hint", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("hint", "created_at", "last_used_at", "revoked_at")

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return (*self.readonly_fields, "user", "name", "expires_at")
        return self.readonly_fields

    def has_change_permission(self, request, obj=None) -> bool:
        return False if obj is not None else super().has_change_permission(request, obj)

    def service_create(self, request, *, form, reason) -> ApiToken:
        token, raw = services.token_issue(
            user=form.cleaned_data["user"],
            name=form.cleaned_data.get("name", ""),
            expires_at=form.cleaned_data.get("expires_at"),
        )
        messages.warning(request, f"Copy this token now, it will not be shown again: {raw}")
        return token

    def service_delete(self, request, *, obj, reason) -> None:
        services.token_delete(token=obj)

    @admin.action(description="Revoke selected tokens", permissions=["delete"])
    def revoke(self, request, queryset) -> None:
        done, refused = self.each_through_service(
            queryset, lambda token: services.token_revoke(token=token)
        )
        self.message_user(request, f"Revoked {done} token(s).", messages.SUCCESS)
        self.message_refusals(request, refused)
