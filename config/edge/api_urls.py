"""Every app registers its viewsets on the one router, under /api/v1/."""

from config.api.routers import ApiRouter
from config.edge.segment_customers import SegmentCustomersViewSet
from config.events.api.views import EventViewSet
from config.webhooks.api.views import WebhookDeliveryViewSet, WebhookEndpointViewSet
from customers.api.status_views import CustomerStatusViewSet
from customers.api.tagging_views import CustomerTaggingViewSet
from customers.api.views import CustomerViewSet
from segments.api.views import SegmentViewSet
from statuses.api.views import StatusLabelViewSet, StatusViewSet
from tags.api.change_set_views import ChangeSetViewSet
from tags.api.views import TagViewSet

router = ApiRouter()
router.register("customers", CustomerViewSet, basename="customer")
router.register("customers", CustomerStatusViewSet, basename="customer_status")
router.register("customers", CustomerTaggingViewSet, basename="customer_tagging")
router.register("customer_tags", TagViewSet, basename="customer_tag")
router.register("segments", SegmentViewSet, basename="segment")
router.register("segments", SegmentCustomersViewSet, basename="segment_customers")
router.register("statuses", StatusViewSet, basename="status")
router.register("status_labels", StatusLabelViewSet, basename="status_label")
router.register("change_sets", ChangeSetViewSet, basename="change_set")
router.register("events", EventViewSet, basename="event")
router.register("webhook_endpoints", WebhookEndpointViewSet, basename="webhook_endpoint")
router.register("webhook_deliveries", WebhookDeliveryViewSet, basename="webhook_delivery")

urlpatterns = router.urls
