from django import forms
from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from config.admin_base import ServiceAdmin, refusals
from config.admin_history import ValidIdHistoryMixin
from statuses import services
from statuses.models import Status, StatusChange, StatusLabel


class StatusLabelInline(admin.TabularInline):
    model = StatusLabel
    fields = ("name", "description")
    extra = 0
    show_change_link = True

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # deleting a label goes through its own page and the service's checks


def cleaned(form: forms.BaseForm, fields: tuple[str, ...]) -> dict:
    """The form's values of ``fields`` (those it has), for a service's ``data``."""
    return {field: form.cleaned_data[field] for field in fields if field in form.cleaned_data}


@admin.register(Status)
class StatusAdmin(ValidIdHistoryMixin, ServiceAdmin, SimpleHistoryAdmin):
    list_display = ("name", "description")
    search_fields = ("name",)
    fields = ("name", "description", "allowed_next")
    filter_horizontal = ("allowed_next",)
    inlines = [StatusLabelInline]

    def service_create(self, request, *, form, reason) -> Status:
        return services.status_save(
            status=None, data=cleaned(form, self.fields), actor=request.user, reason=reason
        )

    def service_update(self, request, *, obj, form, reason) -> Status:
        return services.status_save(
            status=obj, data=cleaned(form, self.fields), actor=request.user, reason=reason
        )

    def service_delete(self, request, *, obj, reason) -> None:
        services.status_delete(status=obj, actor=request.user, reason=reason)

    def save_formset(self, request, form, formset, change) -> None:
        """The status's labels, each changed or added one through ``label_save`` (which
        refuses, say, renaming the default label), with the page's reason."""
        reason = self.reason_changed if change else self.reason_created
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for label_form in formset.forms:
            if not label_form.has_changed():
                continue
            data = cleaned(label_form, StatusLabelInline.fields)
            adding = label_form.instance._state.adding
            name = data.get("name") if adding else label_form.initial.get("name")
            with refusals(about=f"Label '{name}'"):
                label = services.label_save(
                    label=None if adding else label_form.instance,
                    data={**data, "status": formset.instance} if adding else data,
                    actor=request.user,
                    reason=reason,
                )
            if adding:
                formset.new_objects.append(label)
            else:
                formset.changed_objects.append((label, label_form.changed_data))


@admin.register(StatusLabel)
class StatusLabelAdmin(ValidIdHistoryMixin, ServiceAdmin, SimpleHistoryAdmin):
    list_display = ("name", "status", "description")
    list_filter = ("status",)
    search_fields = ("name",)
    list_select_related = ("status",)
    fields = ("name", "status", "description", "allowed_next")
    filter_horizontal = ("allowed_next",)

    def service_create(self, request, *, form, reason) -> StatusLabel:
        return services.label_save(
            label=None, data=cleaned(form, self.fields), actor=request.user, reason=reason
        )

    def service_update(self, request, *, obj, form, reason) -> StatusLabel:
        return services.label_save(
            label=obj, data=cleaned(form, self.fields), actor=request.user, reason=reason
        )

    def service_delete(self, request, *, obj, reason) -> None:
        services.label_delete(label=obj, actor=request.user, reason=reason)


@admin.register(StatusChange)
class StatusChangeAdmin(ServiceAdmin):
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
