from django import forms
from django.contrib import admin
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from config.admin_history import ValidIdHistoryMixin
from config.exceptions import DomainError
from segments import services
from segments.models import Segment
from segments.selectors import segment_count, segment_members

SAMPLE_SIZE = 10


class SegmentForm(forms.ModelForm):
    class Meta:
        model = Segment
        fields = [
            "name",
            "description",
            "is_active",
            "tags_all",
            "tags_any",
            "tags_none",
            "status_labels",
        ]

    def clean(self):
        """The service's rule checks (a condition, no tag in two lists), shown on the form."""
        data = super().clean()
        try:
            services.rule_resolve(rule_from_form(data))
        except DomainError as error:
            raise forms.ValidationError(str(error)) from error
        return data


def rule_from_form(data: dict) -> dict:
    return {
        "all": [t.name for t in data.get("tags_all") or []],
        "any": [t.name for t in data.get("tags_any") or []],
        "none": [t.name for t in data.get("tags_none") or []],
        "status_labels": [label.name for label in data.get("status_labels") or []],
    }


@admin.register(Segment)
class SegmentAdmin(ValidIdHistoryMixin, SimpleHistoryAdmin):
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
    form = SegmentForm

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name.startswith("tags_"):
            from tags.models import Tag

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

    def save_model(self, request, obj, form, change) -> None:
        """The rule arrives with the form's many-to-many data; both go through the service."""
        self._pending = (obj, form, change)

    def save_related(self, request, form, formsets, change) -> None:
        obj, form, change = self._pending
        data = form.cleaned_data
        rule = rule_from_form(data)
        saved = services.segment_save(
            segment=obj if change else None,
            data={
                "name": data["name"],
                "description": data["description"],
                "is_active": data["is_active"],
                "rule": rule,
            },
            actor=request.user,
        )
        obj.pk = saved.pk

    def delete_model(self, request, obj) -> None:
        services.segment_delete(segment=obj, actor=request.user)
