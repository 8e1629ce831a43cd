"""The webhooks in the admin: endpoints with their success rate and why one was turned off,
the delivery log (per endpoint, per event) with each attempt, and the actions "send a test
event", "rotate secret", "replay" (one delivery, or an endpoint's failed ones since a time).
Every write goes through ``config.webhooks.services``."""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from config.admin_base import ServiceAdmin
from config.fields import parse_ulid
from config.webhooks import services
from config.webhooks.models import URL_MAX_LENGTH, WebhookAttempt, WebhookDelivery, WebhookEndpoint

SUCCESS_RATE_DAYS = 7


class WebhookEndpointForm(forms.ModelForm):
    # The service checks the URL (scheme, host, where it resolves): one rule, one message.
    url = forms.CharField(max_length=URL_MAX_LENGTH, label="URL")
    types = forms.MultipleChoiceField(
        choices=[(pattern, pattern) for pattern in services.TYPE_PATTERNS],
        help_text="Exact types, wildcards (customer.*) or * for every event.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("url", "description", "types", "is_active")


class ReplayFailedForm(forms.Form):
    since = forms.SplitDateTimeField(
        label="Failed deliveries created since",
        help_text="UTC. Each is sent again with a fresh retry schedule.",
    )


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ServiceAdmin):
    form = WebhookEndpointForm
    list_display = ("url", "description", "is_active", "success_rate", "deliveries_link", "notice")
    list_filter = ("is_active",)
    search_fields = ("url", "description")
    fields = ("url", "description", "types", "is_active")
    readonly_fields = ("disabled_at", "disabled_reason", "failing_since", "created_by")
    actions = ("send_test_event", "rotate_secret", "replay_failed")

    def get_fields(self, request, obj=None):
        return self.fields + (self.readonly_fields if obj else ())

    def get_queryset(self, request):
        since = timezone.now() - timedelta(days=SUCCESS_RATE_DAYS)
        recent = Q(deliveries__log__attempted_at__gte=since)
        return (
            super()
            .get_queryset(request)
            .annotate(
                recent_attempts=Count("deliveries__log", filter=recent),
                recent_successes=Count(
                    "deliveries__log", filter=recent & Q(deliveries__log__succeeded=True)
                ),
            )
        )

    @admin.display(description=f"success rate ({SUCCESS_RATE_DAYS} days)")
    def success_rate(self, obj: WebhookEndpoint) -> str:
        attempts = getattr(obj, "recent_attempts", 0)
        if not attempts:
            return "–"
        return f"{100 * obj.recent_successes / attempts:.1f} % of {attempts} attempts"

    @admin.display(description="deliveries")
    def deliveries_link(self, obj: WebhookEndpoint) -> str:
        url = reverse("admin:webhooks_webhookdelivery_changelist")
        return format_html('<a href="{}?endpoint__id__exact={}">log</a>', url, obj.pk)

    @admin.display(description="notice")
    def notice(self, obj: WebhookEndpoint) -> str:
        return obj.disabled_reason

    def changelist_view(self, request, extra_context=None):
        for endpoint in WebhookEndpoint.objects.filter(is_active=False).exclude(disabled_reason=""):
            self.message_user(
                request,
                f"{endpoint.url} was turned off on {endpoint.disabled_at:%Y-%m-%d %H:%M} UTC: "
                f"{endpoint.disabled_reason} Deliveries wait until it is turned on again.",
                messages.WARNING,
            )
        return super().changelist_view(request, extra_context)

    def service_create(self, request, *, form, reason) -> WebhookEndpoint:
        endpoint, secret = services.webhook_endpoint_create(
            data=form.cleaned_data, actor=request.user
        )
        messages.warning(
            request, f"Copy the signing secret now, it will not be shown again: {secret}"
        )
        return endpoint

    def service_update(self, request, *, obj, form, reason) -> WebhookEndpoint:
        data = {name: form.cleaned_data[name] for name in form.changed_data}
        return services.webhook_endpoint_update(endpoint=obj, data=data)

    def service_delete(self, request, *, obj, reason) -> None:
        services.webhook_endpoint_delete(endpoint=obj)

    @admin.action(description="Send a test event", permissions=["change"])
    def send_test_event(self, request, queryset) -> None:
        sent = 0
        for endpoint in queryset:
            if not endpoint.is_active:
                self.message_user(request, f"{endpoint.url} is off: no test event.", messages.ERROR)
                continue
            services.webhook_endpoint_send_test(endpoint=endpoint)
            sent += 1
        if sent:
            self.message_user(
                request,
                f"A test event is on its way to {sent} endpoint(s); see the delivery log.",
                messages.SUCCESS,
            )

    @admin.action(description="Rotate the signing secret", permissions=["change"])
    def rotate_secret(self, request, queryset) -> None:
        for endpoint in queryset:
            secret = services.webhook_endpoint_rotate_secret(endpoint=endpoint)
            self.message_user(
                request,
                f"New secret for {endpoint.url} (copy it now; the old one signs too for 24 "
                f"hours): {secret}",
                messages.WARNING,
            )

    @admin.action(description="Replay failed deliveries since…", permissions=["change"])
    def replay_failed(self, request, queryset):
        form = ReplayFailedForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            since = form.cleaned_data["since"]
            replayed = sum(
                services.webhook_deliveries_replay_failed(endpoint=endpoint, since=since)
                for endpoint in queryset
            )
            self.message_user(
                request, f"{replayed} failed deliveries will be sent again.", messages.SUCCESS
            )
            return None
        return TemplateResponse(
            request,
            "admin/webhooks/replay_failed.html",
            {
                **self.admin_site.each_context(request),
                "form": form,
                "count": queryset.count(),
                "action": "replay_failed",
                "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
                "select_across": request.POST.get("select_across") == "1",
                "opts": self.model._meta,
            },
        )


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ("attempted_at", "status", "duration_ms", "error", "response_excerpt")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("id",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ServiceAdmin):
    """The delivery log: read-only; "replay" sends one again through the service. Search by
    an event's id for every endpoint it went to."""

    list_display = (
        "event_type",
        "event_id",
        "endpoint",
        "state",
        "attempts",
        "last_status",
        "next_attempt_at",
        "delivered_at",
        "created_at",
    )
    list_filter = ("state", "event_type", "endpoint")
    search_fields = ("=event_id",)
    list_select_related = ("endpoint",)
    fields = (*list_display, "customer_id", "last_error")
    readonly_fields = fields
    inlines = [WebhookAttemptInline]
    actions = ("replay",)

    def get_search_results(self, request, queryset, search_term):
        # An id that is not a ULID matches nothing (rather than an error from the id column).
        term = search_term.strip()
        if not term:
            return queryset, False
        ulid = parse_ulid(term)
        return (queryset.filter(event_id=ulid) if ulid else queryset.none()), False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a log: its page only shows

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_replay_permission(self, request) -> bool:
        return request.user.has_perm("webhooks.change_webhookdelivery")

    @admin.action(description="Replay (send again)", permissions=["replay"])
    def replay(self, request, queryset) -> None:
        count = 0
        for delivery in queryset:
            services.webhook_delivery_replay(delivery=delivery)
            count += 1
        self.message_user(request, f"{count} delivery(ies) will be sent again.", messages.SUCCESS)
