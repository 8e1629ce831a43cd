from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from simple_history.admin import SimpleHistoryAdmin

from config.admin_history import ValidIdHistoryMixin
from config.exceptions import DomainError
from statuses import services
from statuses.models import Status, StatusChange, StatusLabel


class StatusLabelInline(admin.TabularInline):
    model = StatusLabel
    fields = ("name", "description")
    extra = 0
    show_change_link = True

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # deleting a label goes through its own page and the service's checks


@admin.register(Status)
class StatusAdmin(ValidIdHistoryMixin, SimpleHistoryAdmin):
    list_display = ("name", "description")
    search_fields = ("name",)
    fields = ("name", "description", "allowed_next")
    filter_horizontal = ("allowed_next",)
    inlines = [StatusLabelInline]


@admin.register(StatusLabel)
class StatusLabelAdmin(ValidIdHistoryMixin, SimpleHistoryAdmin):
    list_display = ("name", "status", "description")
    list_filter = ("status",)
    search_fields = ("name",)
    list_select_related = ("status",)
    fields = ("name", "status", "description", "allowed_next")
    filter_horizontal = ("allowed_next",)

    def delete_model(self, request, obj) -> None:
        services.label_delete(label=obj, actor=request.user)

    def delete_view(self, request, object_id, extra_context=None):
        """Refusals of the service (default label, label in use) come back as a message."""
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as error:
            self.message_user(request, str(error), messages.ERROR)
            return HttpResponseRedirect(
                reverse("admin:statuses_statuslabel_change", args=[object_id])
            )


@admin.register(StatusChange)
class StatusChangeAdmin(admin.ModelAdmin):
    """Append-only: visible, never edited or deleted."""

    list_display = (
        "id",
        "customer",
        "from_label",
        "to_label",
        "reason",
        "source",
        "effective_at",
        "created_by",
    )
    list_filter = ("source", "to_label")
    search_fields = ("customer__name", "customer__email", "reason")
    list_select_related = ("customer", "from_label", "to_label", "created_by")
    date_hierarchy = "effective_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
