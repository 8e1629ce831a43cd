from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from config.admin_base import ServiceAdmin
from config.admin_history import HistoryPageMixin
from config.edge.timeline import customer_history_page
from config.exceptions import DomainError
from customers import services
from customers.admin_filters import ChangeSetFilter, SegmentFilter, TagFilter
from customers.models import Customer
from customers.selectors import customer_id_batches
from statuses.models import StatusLabel
from tags.models import ChangeSet, TagAssignment
from tags.selectors import customer_current_assignments, customers_with_current_tags
from tags.services import (
    ChangeSetPlan,
    TagChange,
    change_set_plan,
    customers_retag,
    customers_retag_preview_batches,
    customers_status_change,
    customers_status_change_background,
)

# Customers a status change loads at a time when it runs over a whole selection.
STATUS_BATCH = 500
# Customers a tag preview lists by name (with the total when the selection has more).
PREVIEW_LISTED = 20


class ChangeStatusForm(forms.Form):
    label = forms.ModelChoiceField(StatusLabel.objects.select_related("status"), label="New label")
    reason = forms.CharField(
        max_length=255, label="Reason", widget=forms.TextInput(attrs={"size": 60})
    )


class RetagForm(forms.Form):
    """Tag names (comma-separated) and the reason every history row will carry."""

    tags = forms.CharField(
        label="Tags",
        max_length=10_000,
        widget=forms.TextInput(attrs={"size": 60, "autocomplete": "off"}),
        help_text="Names, comma-separated; any case or spacing finds the tag.",
    )
    reason = forms.CharField(
        max_length=255, label="Reason", widget=forms.TextInput(attrs={"size": 60})
    )
    create_missing = forms.BooleanField(
        required=False, initial=True, label="Create tags that do not exist yet"
    )

    def __init__(self, *args, adding: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not adding:
            del self.fields["create_missing"]
            self.fields["tags"].help_text += " Names that are not tags are reported and skipped."

    def clean_tags(self) -> list[str]:
        names = list(dict.fromkeys(n.strip() for n in self.cleaned_data["tags"].split(",")))
        names = [n for n in names if n]
        if not names:
            raise forms.ValidationError("Name at least one tag.")
        return names


def customer_data(form: forms.Form) -> dict:
    """The fields the customer services write, as the form cleaned them."""
    return {f: form.cleaned_data[f] for f in services.WRITABLE_FIELDS if f in form.cleaned_data}


class CurrentTagsInline(admin.TabularInline):
    """The customer's current tags, read-only: changes go through the list's actions (the
    tagging service), never through a formset."""

    model = TagAssignment
    fk_name = "customer"
    verbose_name = "current tag"
    verbose_name_plural = (
        "current tags (add or remove them with the list's Add tags… / Remove tags… actions)"
    )
    fields = ("tag_link", "category", "source", "expires_at", "assigned_by", "created_at")
    readonly_fields = fields
    template = "admin/customers/current_tags_inline.html"
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return (
            TagAssignment.objects.current()
            .select_related("tag", "assigned_by")
            .order_by("tag__name")
        )

    @admin.display(description="tag")
    def tag_link(self, obj: TagAssignment) -> str:
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:tags_tag_change", args=[obj.tag_id]), obj.tag
        )

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("customers.view_customer")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Customer)
class CustomerAdmin(HistoryPageMixin, ServiceAdmin, SimpleHistoryAdmin):
    list_display = (
        "__str__",
        "tag_list",
        "email",
        "mobile",
        "reference_id",
        "status_label",
        "created_at",
    )
    list_filter = (
        TagFilter, "status_label__status", "status_label", SegmentFilter, ChangeSetFilter,
    )  # fmt: skip
    list_select_related = ("status_label__status",)
    actions = ["add_tags", "remove_tags", "change_status"]
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
    inlines = [CurrentTagsInline]
    date_hierarchy = "created_at"
    show_full_result_count = False
    history_page_intro = (
        "Changes to the customer's fields, the tags added and removed, and status changes."
    )

    def get_inline_instances(self, request, obj=None):
        # The tags inline only shows: a save never submits or validates it, so it cannot trip
        # over assignments that changed while the page was open.
        if obj is None or request.method == "POST":
            return []
        return super().get_inline_instances(request, obj)

    def get_queryset(self, request):
        # The list's tag column reads a prefetch: one query for the page, not one per row.
        return customers_with_current_tags(super().get_queryset(request))

    @admin.display(description="tags")
    def tag_list(self, obj: Customer) -> str:
        return format_html_join(
            ", ",
            '<a href="?tag={}" class="customer-tag">{}</a>',
            ((a.tag_id, a.tag.name) for a in customer_current_assignments(customer=obj)),
        )

    def history_page(self, *, obj, page_number, per_page):
        return customer_history_page(customer_id=obj.pk, page_number=page_number, per_page=per_page)

    def service_create(self, request, *, form, reason) -> Customer:
        return services.customer_create(data=customer_data(form), actor=request.user, reason=reason)

    def service_update(self, request, *, obj, form, reason) -> Customer:
        return services.customer_update(
            customer=obj, data=customer_data(form), actor=request.user, reason=reason
        )

    def service_delete(self, request, *, obj, reason) -> None:
        services.customer_delete(customer=obj, actor=request.user, reason=reason)

    # --- actions: each asks for its input and a reason on a confirmation page ----------------

    def _confirmation(self, request, queryset, *, action: str, template: str, form, **context):
        """The confirmation page of an action; the count is a query, so it costs the same for
        a page of customers as for every customer matching the filter (select across)."""
        return TemplateResponse(
            request,
            template,
            {
                **self.admin_site.each_context(request),
                "form": form,
                "count": queryset.count(),
                "action": action,
                "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
                "select_across": request.POST.get("select_across") == "1",
                "opts": self.model._meta,
                **context,
            },
        )

    @admin.action(description="Add tags…", permissions=["tag"])
    def add_tags(self, request, queryset):
        return self._retag(request, queryset, adding=True)

    @admin.action(description="Remove tags…", permissions=["tag"])
    def remove_tags(self, request, queryset):
        return self._retag(request, queryset, adding=False)

    def _retag(self, request, queryset, *, adding: bool):
        """Ask for tags and a reason; "Preview" shows what the change would do, writing
        nothing; "Apply" runs it with the tagging service over the selection's ids (never the
        customers themselves): in the request, all or nothing, up to CHANGE_SET_SYNC_MAX
        customers; above, planned as a background change-set whose page follows it."""
        form = RetagForm(request.POST if "apply" in request.POST else None, adding=adding)
        preview, shown = None, []
        if form.is_valid():
            names, data = form.cleaned_data["tags"], form.cleaned_data
            change = TagChange(
                add=names if adding else (),
                remove=() if adding else names,
                create_missing=data.get("create_missing", False),
                source="admin",
                reason=data["reason"],
            )
            selection = self._selection(request)
            try:
                if "preview" in request.POST:
                    preview = customers_retag_preview_batches(
                        batches=customer_id_batches(queryset), change=change, actor=request.user
                    )
                    shown = list(queryset.order_by("pk")[:PREVIEW_LISTED])
                elif queryset.count() > settings.CHANGE_SET_SYNC_MAX:
                    change_set, warnings = change_set_plan(
                        customer_ids=[i for ids in customer_id_batches(queryset) for i in ids],
                        change=change,
                        actor=request.user,
                        selection=selection,
                    )
                    return self._planned(request, change_set, warnings)
                else:
                    result = customers_retag(
                        batches=customer_id_batches(queryset),
                        change=change,
                        actor=request.user,
                        all_or_nothing=True,
                        plan=ChangeSetPlan(kind=ChangeSet.Kind.BULK_TAG, selection=selection),
                    )
            except DomainError as error:
                form.add_error(None, f"{error} Nothing was changed.")
                preview = None
            else:
                if preview is None:
                    self._report(request, result, adding=adding)
                    return None
        return self._confirmation(
            request,
            queryset,
            action="add_tags" if adding else "remove_tags",
            template="admin/customers/retag.html",
            form=form,
            adding=adding,
            preview=preview,
            figures=sorted((preview.gain if adding else preview.lose).items()) if preview else [],
            shown=[
                (c, [a.tag.name for a in customer_current_assignments(customer=c)]) for c in shown
            ],
            limit=settings.MAX_TAGS_PER_CUSTOMER,
            sync_max=settings.CHANGE_SET_SYNC_MAX,
        )

    def _planned(self, request, change_set: ChangeSet, warnings: list[str]):
        """After a background change-set is planned: say so, and go to its page (its progress
        bar), or stay on the list for someone who may not see change-sets."""
        self.message_user(
            request,
            f"Planned as change-set {change_set.pk}: {change_set.total:,} customers, over "
            f"{settings.CHANGE_SET_SYNC_MAX:,}, so it runs in the background. "
            "Its page shows how far it got.",
            messages.SUCCESS,
        )
        for warning in warnings:
            self.message_user(request, warning, messages.WARNING)
        if not request.user.has_perm("tags.view_changeset"):
            return None
        return HttpResponseRedirect(reverse("admin:tags_changeset_change", args=[change_set.pk]))

    def _report(self, request, result, *, adding: bool) -> None:
        counts = result.added if adding else result.removed
        total = result.tags_added if adding else result.tags_removed
        per_tag = ", ".join(f"{name}: {n:,}" for name, n in sorted(counts.items()))
        verb = "Added" if adding else "Removed"
        self.message_user(
            request,
            f"{verb} {total:,} tag assignment{'s' if total != 1 else ''} on "
            f"{result.matched:,} selected customer{'s' if result.matched != 1 else ''}"
            + (f" ({per_tag})." if per_tag else "; nothing needed changing."),
            messages.SUCCESS,
        )
        if result.created_tags:
            self.message_user(
                request, f"Created tag(s): {', '.join(result.created_tags)}.", messages.INFO
            )
        if result.change_set is not None:
            self.message_user(
                request,
                f"Recorded as change-set {result.change_set.pk} (Tags → Change sets), "
                "where it can be reverted.",
                messages.INFO,
            )
        for warning in result.warnings:
            self.message_user(request, warning, messages.WARNING)

    def has_tag_permission(self, request) -> bool:
        return request.user.has_perm("customers.tag_customer")

    @admin.action(description="Change status…", permissions=["change_status"])
    def change_status(self, request, queryset):
        """Ask for a label and a reason, then change the selected customers with the bulk
        status service (one change-set): in the request, a batch at a time, up to
        CHANGE_SET_SYNC_MAX customers; above, planned as a background change-set whose page
        follows it."""
        form = ChangeStatusForm(request.POST if "apply" in request.POST else None)
        count = queryset.count()
        if form.is_valid():
            data = form.cleaned_data
            try:
                if count > settings.CHANGE_SET_SYNC_MAX:
                    change_set = customers_status_change_background(
                        customer_ids=[i for ids in customer_id_batches(queryset) for i in ids],
                        label=data["label"],
                        reason=data["reason"],
                        actor=request.user,
                        selection=self._selection(request),
                    )
                    return self._planned(request, change_set, [])
                result = customers_status_change(
                    batches=customer_id_batches(queryset, batch_size=STATUS_BATCH),
                    label=data["label"],
                    reason=data["reason"],
                    actor=request.user,
                    selection=self._selection(request),
                    total=count,
                )
            except DomainError as error:
                form.add_error(None, str(error))
            else:
                self._status_report(request, result)
                return None
        return self._confirmation(
            request,
            queryset,
            action="change_status",
            template="admin/customers/change_status.html",
            form=form,
            sync_max=settings.CHANGE_SET_SYNC_MAX,
        )

    def _status_report(self, request, result) -> None:
        self.message_user(
            request,
            f"Changed {result.changed} customer(s); {result.unchanged} already had "
            f"that label. Recorded as change-set {result.change_set.pk} "
            "(Tags → Change sets).",
            messages.SUCCESS,
        )
        for refusal in result.refusals:
            self.message_user(request, refusal, messages.ERROR)
        if result.refused > len(result.refusals):
            self.message_user(
                request,
                f"… and {result.refused - len(result.refusals)} more refused.",
                messages.ERROR,
            )

    @staticmethod
    def _selection(request) -> dict:
        """How the action's customers were chosen, as a change-set records it."""
        if request.POST.get("select_across") == "1":
            return {"admin": {"select_across": True}}
        return {
            "admin": {"selected": len(request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME))}
        }

    def has_change_status_permission(self, request) -> bool:
        return request.user.has_perm("statuses.change_customer_status")
