from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from customers import services
from customers.models import Customer


@admin.register(Customer)
class CustomerAdmin(SimpleHistoryAdmin):
    list_display = ("__str__", "email", "mobile", "reference_id", "created_at")
    search_fields = ("name", "email", "mobile", "reference_id")
    readonly_fields = ("id", "created_at", "updated_at")
    fields = (
        "id",
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
