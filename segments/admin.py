from django import forms
from django.contrib import admin
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from config.admin_base import ServiceAdmin
from config.admin_history import ValidIdHistoryMixin
from segments import services
from segments.models import Segment
from segments.selectors import segment_count, segment_members
from tags.models import Tag

SAMPLE_SIZE = 10


def segment_data(form: forms.Form) -> dict:
    """The form's fields and rule (its pickers, as names) in the service's terms."""
    data = form.cleaned_data
    return {
        "name": data["name"],
        "description": data["description"],
        "is_active": data["is_active"],
        "rule": {
            "all": [t.name for t in data.get("tags_all") or []],
            "any": [t.name for t in data.get("tags_any") or []],
            "none": [t.name for t in data.get("tags_none") or []],
            "status_labels": [label.name for label in data.get("status_labels") or []],
        },
    }


@admin.register(Segment)
class SegmentAdmin(ValidIdHistoryMixin, ServiceAdmin, SimpleHistoryAdmin):
    """Rules edited with tag pickers; the change page shows the member count and a sample.

    The list shows no counts: a count per row would be a query per segment over millions of
    customers. Open a segment (or GET /segments/{id}/count) for its size.
    """

    list_display = ("name", "is_active", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("name", "description")
    fields = (
        "name", "description", "is_active", "tags_all", "tags_any", "tags_none", "status_labels",
        "member_count", "member_sample",
    )  # fmt: skip
    readonly_fields = ("member_count", "member_sample")
    filter_horizontal = ("tags_all", "tags_any", "tags_none", "status_labels")
    # The service names a rule's list; the form shows it on that list's picker.
    refusal_fields = {
        "rule.all": "tags_all",
        "rule.any": "tags_any",
        "rule.none": "tags_none",
        "rule.status_labels": "status_labels",
    }

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name.startswith("tags_"):
            kwargs["queryset"] = Tag.objects.alive().order_by("name")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    @admin.display(description="members now")
    def member_count(self, obj: Segment) -> str:
        return f"{segment_count(obj):,}" if obj.pk else "—"

    @admin.display(description=f"sample of {SAMPLE_SIZE} members")
    def member_sample(self, obj: Segment) -> str:
        if not obj.pk:
            return "—"
        customers = segment_members(obj).order_by("id")[:SAMPLE_SIZE]
        return (
            format_html(
                "<ul>{}</ul>",
                format_html_join(
                    "",
                    '<li><a href="/admin/customers/customer/{}/change/">{}</a></li>',
                    ((c.pk, str(c)) for c in customers),
                ),
            )
            or "none"
        )

    def service_create(self, request, *, form, reason) -> Segment:
        return services.segment_save(
            segment=None, data=segment_data(form), actor=request.user, reason=reason
        )

    def service_update(self, request, *, obj, form, reason) -> Segment:
        return services.segment_save(
            segment=obj, data=segment_data(form), actor=request.user, reason=reason
        )

    def service_delete(self, request, *, obj, reason) -> None:
        services.segment_delete(segment=obj, actor=request.user, reason=reason)
