from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from config.admin_base import ServiceAdmin
from config.admin_history import HistoryPageMixin
from config.exceptions import DomainError
from segments.selectors import tags_merge_preview_with_rules
from segments.services import tags_merge_with_rules
from tags import services
from tags.models import ChangeSet, Tag
from tags.selectors import tag_history_page
from tags.services.bulk import BACKGROUND
from tags.services.change_sets import REVERTIBLE, TAG_KINDS

# A change-set's page follows one in these states with a live progress bar.
LIVE = (ChangeSet.State.PLANNED, ChangeSet.State.RUNNING)


class MergeForm(forms.Form):
    into = forms.ModelChoiceField(
        Tag.objects.filter(is_deleted=False).order_by("name"),
        label="Merge into",
        help_text="The tag that stays. The selected tags become its aliases.",
    )
    reason = forms.CharField(max_length=255, widget=forms.TextInput(attrs={"size": 60}))


def tag_data(form: forms.Form) -> dict:
    """The fields the tag services write, as the form cleaned them."""
    return {f: form.cleaned_data[f] for f in services.TAG_FIELDS if f in form.cleaned_data}


@admin.register(Tag)
class TagAdmin(HistoryPageMixin, ServiceAdmin, SimpleHistoryAdmin):
    list_display = (
        "name",
        "customer_count",
        "is_active",
        "is_deleted",
        "reference_id",
        "created_at",
    )
    list_filter = ("is_active", "is_deleted")
    search_fields = ("name", "reference_id", "description")
    readonly_fields = (
        "id", "aliases", "merged_into", "is_deleted", "deleted_at", "created_at", "updated_at",
    )  # fmt: skip
    fields = (
        "id",
        "name",
        "aliases",
        "merged_into",
        "reference_id",
        "description",
        "is_active",
        "metadata",
        "is_deleted",
        "deleted_at",
        "created_at",
        "updated_at",
    )
    actions = ["soft_delete", "restore", "merge"]
    change_form_template = "admin/tags/tag/change_form.html"
    reason_deleted = "Deleted permanently in the admin"
    show_full_result_count = False
    history_page_intro = (
        "Changes to the tag itself; its customers' histories show the tag added and removed."
    )

    def history_page(self, *, obj, page_number, per_page):
        return tag_history_page(tag=obj, page_number=page_number, per_page=per_page)

    def get_queryset(self, request):
        return super().get_queryset(request).with_customer_count()

    @admin.display(description="aliases")
    def aliases(self, obj: Tag) -> str:
        """Names of the tags merged into this one: they resolve to it everywhere."""
        return ", ".join(sorted(a.name for a in obj.aliases.all())) or "—"

    @admin.display(description="customers", ordering="customer_count")
    def customer_count(self, obj: Tag) -> int:
        return obj.customer_count

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.is_deleted:
            return self.fields  # a deleted tag is read-only until restored
        return self.readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("tags.hard_delete_tag")

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm("tags.restore_tag"):
            actions.pop("restore", None)
        return actions

    def service_create(self, request, *, form, reason) -> Tag:
        return services.tag_create(data=tag_data(form), actor=request.user, reason=reason)

    def service_update(self, request, *, obj, form, reason) -> Tag:
        return services.tag_update(tag=obj, data=tag_data(form), actor=request.user, reason=reason)

    def service_delete(self, request, *, obj, reason) -> None:
        services.tag_hard_delete(tag=obj, actor=request.user, reason=reason)

    @admin.action(description="Delete (soft) selected tags", permissions=["change"])
    def soft_delete(self, request, queryset) -> None:
        done, refused = self.each_through_service(
            queryset.filter(is_deleted=False),
            lambda tag: services.tag_soft_delete(
                tag=tag, actor=request.user, reason="Soft-deleted in the admin"
            ),
        )
        self.message_user(
            request, f"Soft-deleted {done} tag(s); restore them any time.", messages.SUCCESS
        )
        self.message_refusals(request, refused)

    @admin.action(description="Restore selected tags", permissions=["change"])
    def restore(self, request, queryset) -> None:
        done, refused = self.each_through_service(
            queryset.filter(is_deleted=True),
            lambda tag: services.tag_restore(
                tag=tag, actor=request.user, reason="Restored in the admin"
            ),
        )
        self.message_user(request, f"Restored {done} tag(s).", messages.SUCCESS)
        self.message_refusals(request, refused)

    @admin.action(description="Merge into…", permissions=["change"])
    def merge(self, request, queryset):
        """Choose the tag that stays, see what will move, then merge through the service."""
        form = MergeForm(request.POST if "apply" in request.POST else None)
        sources = list(queryset)
        if form.is_valid():
            into = form.cleaned_data["into"]
            try:
                done = tags_merge_with_rules(
                    sources=[t for t in sources if t.pk != into.pk],
                    into=into,
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except DomainError as error:
                form.add_error(None, f"{error} Nothing was changed.")
            else:
                self.message_user(
                    request,
                    f"Merged {len(done.sources)} tag(s) into '{into.name}': moved {done.moved:,} "
                    f"assignment(s), {done.already_held:,} customer(s) already had it, "
                    f"{len(done.segments)} segment rule(s) rewritten."
                    + (
                        f" Recorded as change-set {done.change_set.pk}."
                        if done.change_set is not None
                        else ""
                    ),
                    messages.SUCCESS,
                )
                return None
        previews = []
        for into in Tag.objects.filter(is_deleted=False, pk__in=[t.pk for t in sources]):
            try:
                previews.append(
                    tags_merge_preview_with_rules(
                        sources=[t for t in sources if t.pk != into.pk], into=into
                    )
                )
            except DomainError:
                continue
        return TemplateResponse(
            request,
            "admin/tags/tag/merge.html",
            {
                **self.admin_site.each_context(request),
                "form": form,
                "sources": sources,
                "previews": previews,
                "action": "merge",
                "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
                "select_across": request.POST.get("select_across") == "1",
                "opts": self.model._meta,
            },
        )

    def get_urls(self):
        return [
            path(
                "<path:object_id>/restore/",
                self.admin_site.admin_view(self.restore_view),
                name="tags_tag_restore",
            ),
            *super().get_urls(),
        ]

    def restore_view(self, request: HttpRequest, object_id: str):
        """The Restore button of a deleted tag's page (POST only)."""
        tag = self.get_object(request, unquote(object_id))  # None for a malformed id too
        if tag is None:
            raise Http404
        if request.method != "POST" or not request.user.has_perm("tags.restore_tag"):
            raise PermissionDenied
        try:
            services.tag_restore(
                tag=tag,
                actor=request.user,
                reason=request.POST.get("reason", "") or "Restored in the admin",
            )
        except DomainError as error:
            self.message_user(request, str(error), messages.ERROR)
        else:
            self.message_user(
                request, f"Restored '{tag.name}' and all its assignments.", messages.SUCCESS
            )
        return HttpResponseRedirect(reverse("admin:tags_tag_change", args=[tag.pk]))


@admin.register(ChangeSet)
class ChangeSetAdmin(ServiceAdmin):
    """Bulk changes, read-only: who, why, what, how far, how it went; a Revert button on a
    change-set's page goes through ``change_set_revert``, as the API and ``retag --revert``."""

    list_display = ("id", "kind", "state", "created_by", "summary", "progress_shown", "created_at")
    list_filter = ("state", "kind", "created_by")
    date_hierarchy = "created_at"
    list_select_related = ("created_by",)
    fields = (
        "id", "kind", "state", "created_by", "reason", "selection", "add", "remove",
        "summary", "customers_link", "progress_shown", "error", "conflict_list", "reverts",
        "reverted_by_link",
        "started_at", "finished_at", "created_at",
    )  # fmt: skip
    readonly_fields = fields
    change_form_template = "admin/tags/changeset/change_form.html"
    show_full_result_count = False

    @admin.display(description="counts")
    def summary(self, obj: ChangeSet) -> str:
        counts = obj.counts
        text = (
            f"{counts.get('customers', 0):,} customers, +{counts.get('added', 0):,} "
            f"-{counts.get('removed', 0):,}"
        )
        if counts.get("conflicts"):
            text += f", {counts['conflicts']:,} conflicts"
        return text

    @admin.display(description="customers")
    def customers_link(self, obj: ChangeSet) -> str:
        """The customer list filtered to those this change-set changed."""
        url = reverse("admin:customers_customer_changelist") + f"?change_set={obj.pk}"
        return format_html('<a href="{}" id="change-set-customers">Customers it changed</a>', url)

    @admin.display(description="progress")
    def progress_shown(self, obj: ChangeSet) -> str:
        return f"{obj.progress:.0%}"

    @admin.display(description="conflicts (first 100)")
    def conflict_list(self, obj: ChangeSet) -> str:
        """A revert's pairs left alone, or a status change's customers refused, with why."""
        if not obj.conflicts:
            return "—"
        if obj.kind == ChangeSet.Kind.STATUS:
            template = '<li><a href="{}">{}</a>: refused, {}</li>'
            rows = ((c["customer_id"], c["reason"]) for c in obj.conflicts)
        else:
            template = (
                '<li><a href="{}">{}</a>: {} {} by the reverted change-set, changed since</li>'
            )
            rows = ((c["customer_id"], c["tag"], c["change"]) for c in obj.conflicts)
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                template,
                ((reverse("admin:customers_customer_change", args=[row[0]]), *row) for row in rows),
            ),
        )

    @admin.display(description="reverted by")
    def reverted_by_link(self, obj: ChangeSet) -> str:
        revert = getattr(obj, "reverted_by", None)
        if revert is None:
            return "—"
        url = reverse("admin:tags_changeset_change", args=[revert.pk])
        return format_html('<a href="{}">{}</a>', url, revert.pk)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a record: its page only shows (the Revert button has its own view)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def may_revert(self, request) -> bool:
        return request.user.has_perms(["tags.change_changeset", "customers.tag_customer"])

    def may_cancel(self, request) -> bool:
        return request.user.has_perm("tags.change_changeset")

    def render_change_form(self, request, context, *args, **kwargs):
        change_set = context.get("original")
        live = change_set is not None and change_set.state in LIVE
        # the button only where the service would revert: a tag change-set, finished
        context["may_revert"] = (
            change_set is not None
            and change_set.kind in TAG_KINDS
            and change_set.state in REVERTIBLE
            and self.may_revert(request)
        )
        context["live"] = live
        context["may_cancel"] = (
            live and self.may_cancel(request) and bool(change_set.options.get(BACKGROUND))
        )
        return super().render_change_form(request, context, *args, **kwargs)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/revert/",
                self.admin_site.admin_view(self.revert_view),
                name="tags_changeset_revert",
            ),
            path(
                "<path:object_id>/progress/",
                self.admin_site.admin_view(self.progress_view),
                name="tags_changeset_progress",
            ),
            path(
                "<path:object_id>/cancel/",
                self.admin_site.admin_view(self.cancel_view),
                name="tags_changeset_cancel",
            ),
            *super().get_urls(),
        ]

    def progress_view(self, request: HttpRequest, object_id: str) -> JsonResponse:
        """How far a change-set got, as JSON, for the progress bar its page polls while it is
        planned or running (GET; tags.view_changeset)."""
        if not request.user.has_perm("tags.view_changeset"):
            raise PermissionDenied
        if request.method != "GET":
            raise PermissionDenied
        change_set = self.get_object(request, unquote(object_id))
        if change_set is None:
            raise Http404
        return JsonResponse(
            {
                "id": change_set.pk,
                "state": change_set.state,
                "final": change_set.state not in LIVE,
                "progress": round(change_set.progress, 4),
                "total": change_set.total,
                "counts": change_set.counts,
            }
        )

    def cancel_view(self, request: HttpRequest, object_id: str):
        """The Cancel button of a background change-set's page (POST only): stops it after
        the batch under way, through ``change_set_cancel`` as the API."""
        change_set = self.get_object(request, unquote(object_id))
        if change_set is None:
            raise Http404
        if request.method != "POST" or not self.may_cancel(request):
            raise PermissionDenied
        try:
            services.change_set_cancel(change_set=change_set)
        except DomainError as error:
            self.message_user(request, str(error), messages.ERROR)
        else:
            self.message_user(
                request,
                f"Cancelled change-set {change_set.pk}: the batch under way finishes, no other "
                "starts; what it did so far stays and can be reverted.",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:tags_changeset_change", args=[change_set.pk]))

    def revert_view(self, request: HttpRequest, object_id: str):
        """The Revert button of a change-set's page (POST only): done in the request, or, over
        ``CHANGE_SET_SYNC_MAX`` customers, planned in the background and followed on the
        revert's page (its progress bar and Cancel)."""
        change_set = self.get_object(request, unquote(object_id))
        if change_set is None:
            raise Http404
        if request.method != "POST" or not self.may_revert(request):
            raise PermissionDenied
        try:
            revert = services.change_set_revert_request(
                change_set=change_set,
                actor=request.user,
                reason=request.POST.get("reason", "").strip()[:255],
            )
        except DomainError as error:
            self.message_user(request, str(error), messages.ERROR)
            return HttpResponseRedirect(
                reverse("admin:tags_changeset_change", args=[change_set.pk])
            )
        if revert.state == ChangeSet.State.PLANNED:
            self.message_user(
                request,
                f"Reverting {revert.total:,} customers in the background: this page follows "
                "its progress; Cancel stops it after the batch under way.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:tags_changeset_change", args=[revert.pk]))
        counts = revert.counts
        self.message_user(
            request,
            f"Reverted: {counts['added']:,} assignment(s) restored, {counts['removed']:,} "
            f"removed, {counts['conflicts']:,} conflict(s) left as they are.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:tags_changeset_change", args=[revert.pk]))
