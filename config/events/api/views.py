from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework import mixins, viewsets
from rest_framework.response import Response

from config.api.viewsets import ApiViewMixin, lookup_by_id
from config.events.api.pagination import EventCursorPagination
from config.events.api.serializers import EventSerializer
from config.events.filtersets import EventFilterSet
from config.events.models import Event
from config.events.selectors import event_feed

FEED_DESCRIPTION = (
    "The change feed: every change to customers, tags and segments as an event, oldest "
    "first, in the order events become visible. It has no gaps: an event never appears "
    "behind one already listed, so a reader that polls with `after=<the id of the last event "
    "it processed>` (or follows `next`) sees each event exactly once. Events are kept for "
    "`EVENTS_RETENTION_DAYS` (30 by default); replay from any event younger than that.\n\n"
    "Types and their `data` (every one also has `reason`):\n"
    "- `customer.created`, `customer.deleted`: `customer` (reference_id, name, email, mobile, "
    "metadata); `customer.updated`: `changed` (`{field: {from, to}}`).\n"
    "- `customer.tags_changed`: `added`, `removed`, lists of `{name, tag_id, category, source, "
    "expires_at}`; one event per customer per call (a bulk change: per customer it changed), "
    "none when nothing changed.\n"
    "- `customer.status_changed`: `from`, `to` (`{status, label}`), `source`, `effective_at`.\n"
    "- `tag.created`, `tag.restored`: `tag` (name, reference_id, is_active); `tag.updated`: "
    "`changed`; `tag.deleted`: `tag`, `permanent`; `tag.merged`: `sources`, `into` "
    "(`{tag_id, name}`).\n"
    "- `segment.created`, `segment.deleted`: `segment` (name, description, is_active, rule); "
    "`segment.updated`: `changed`.\n\n"
    "`customer_id` is the customer a customer event is about; `subject_id` the customer, tag "
    "or segment."
)


@extend_validation_errors(["does_not_exist", "invalid"], field_name="after", actions=["list"])
@extend_validation_errors(["invalid"], field_name="types", actions=["list"])
class EventViewSet(ApiViewMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """The event log, read-only (``events.view_event``)."""

    serializer_class = EventSerializer
    filterset_class = EventFilterSet
    filter_backends = [DjangoFilterBackend]
    pagination_class = EventCursorPagination
    envelope = "event"
    envelope_plural = "events"
    identify_by = {"id": lookup_by_id}
    ordering_fields = ()

    def get_queryset(self):
        if getattr(self, "action", None) == "list":
            return event_feed()
        return Event.objects.all()

    @extend_schema(description=FEED_DESCRIPTION)
    def list(self, request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Get an event", description="One event, by its id.")
    def retrieve(self, request, *args, **kwargs) -> Response:
        return self.enveloped(self.get_object())
