from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from simple_history.admin import SimpleHistoryAdmin

from config.exceptions import DomainError
from customers import services
from customers.models import Customer
from statuses import services as status_services
from statuses.models import ADMIN_SOURCE, StatusLabel


class ChangeStatusForm(forms.Form):
    label = forms.ModelChoiceField(StatusLabel.objects.select_related("status"), label="New label")
    reason = forms.CharField(
        max_length=255, label="Reason", widget=forms.TextInput(attrs={"size": 60})
    )


@admin.register(Customer)
class CustomerAdmin(SimpleHistoryAdmin):
    list_display = ("__str__", "email", "mobile", "reference_id", "status_label", "created_at")
    list_filter = ("status_label__status", "status_label")
    list_select_related = ("status_label__status",)
    actions = ["change_status"]
    search_fields = ("name", "email", "mobile", "reference_id")
    readonly_fields = ("id", "status_label", "created_at", "updated_at")
    fields = (
        "id",
        "status_label",
        "name",
        "email",
        "mobile",
        "reference_id",
        "metadata",
        "created_at",
        "updated_at",
    )
    date_hierarchy = "created_at"
    show_full_result_count = False

    def save_model(self, request, obj, form, change) -> None:
        data = {
            field: form.cleaned_data[field]
            for field in services.WRITABLE_FIELDS
            if field in form.cleaned_data
        }
        if change:
            services.customer_update(customer=obj, data=data, actor=request.user)
        else:
            created = services.customer_create(data=data, actor=request.user)
            obj.pk = created.pk

    def delete_model(self, request, obj) -> None:
        services.customer_delete(customer=obj, actor=request.user)

    @admin.action(description="Change status…", permissions=["change_status"])
    def change_status(self, request, queryset):
        """Ask for a label and a reason, then change each selected customer through the service."""
        form = ChangeStatusForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            changed, unchanged, errors = 0, 0, []
            for customer in queryset:
                try:
                    result = status_services.customer_status_change(
                        customer=customer,
                        label=form.cleaned_data["label"],
                        reason=form.cleaned_data["reason"],
                        source=ADMIN_SOURCE,
                        actor=request.user,
                    )
                except DomainError as error:
                    errors.append(f"{customer}: {error}")
                    continue
                changed += result.change is not None
                unchanged += result.change is None
            self.message_user(
                request,
                f"Changed {changed} customer(s); {unchanged} already had that label.",
                messages.SUCCESS,
            )
            for error in errors[:10]:
                self.message_user(request, error, messages.ERROR)
            return None
        return TemplateResponse(
            request,
            "admin/customers/change_status.html",
            {
                **self.admin_site.each_context(request),
                "form": form,
                "count": queryset.count(),
                "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
                "opts": self.model._meta,
            },
        )

    def has_change_status_permission(self, request) -> bool:
        return request.user.has_perm("statuses.change_customer_status")
