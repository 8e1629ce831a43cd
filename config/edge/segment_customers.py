"""A segment's customers over the API: its members and a rule's preview.

Same URLs as the other segment routes (``/segments/…``). They live on the roof because they join
two apps' APIs: a segment rule as the segment routes read it, customers as the customer routes
show them. An app's API never imports another app's; the roof may import any.
"""

from drf_spectacular.utils import extend_schema, inline_serializer
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from config.api.viewsets import ApiViewMixin, lookup_by_id, sublist_schema
from customers.api.serializers import CustomerSerializer
from segments import services
from segments.api.serializers import SegmentPreviewRequestSerializer
from segments.models import Segment
from segments.rules import Rule, rule_count
from segments.selectors import rule_members, segment_members
from tags.selectors import customer_list_queryset

RULE_ERRORS = ["unknown_tags", "tag_in_two_lists", "invalid_label"]


@extend_validation_errors(["empty_rule"], field_name="rule", actions=["preview"])
@extend_validation_errors(RULE_ERRORS, field_name="rule.all", actions=["preview"])
@extend_validation_errors(RULE_ERRORS, field_name="rule.any", actions=["preview"])
@extend_validation_errors(RULE_ERRORS, field_name="rule.none", actions=["preview"])
@extend_validation_errors(["invalid_label"], field_name="rule.status_labels", actions=["preview"])
class SegmentCustomersViewSet(ApiViewMixin, viewsets.GenericViewSet):
    """The customers a segment (or an unsaved rule) selects, listed like every customer list."""

    serializer_class = CustomerSerializer
    envelope = "segment"
    envelope_plural = "segments"
    identify_by = {"id": lookup_by_id}
    identify_by_actions = ("customers",)
    action_permissions = {
        "customers": ["segments.view_segment", "customers.view_customer"],
        "preview": ["segments.view_segment", "customers.view_customer"],
    }

    def get_queryset(self):
        return Segment.objects.prefetch_related(
            "tags_all", "tags_any", "tags_none", "status_labels"
        )

    @extend_schema(
        operation_id="segment_members",
        summary="List a segment's customers",
        **sublist_schema("SegmentCustomersPage", "customers", CustomerSerializer),
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def customers(self, request, *args, **kwargs) -> Response:
        """The segment's members, in cursor pages."""
        segment = self.get_object()
        members = segment_members(segment, customer_list_queryset())
        return self.paginated_response(members, CustomerSerializer, envelope="customers")

    @extend_schema(
        operation_id="segment_preview",
        summary="Preview a rule without saving it",
        request=SegmentPreviewRequestSerializer,
        responses={
            200: inline_serializer(
                "SegmentPreview",
                {
                    "customer_count": serializers.IntegerField(),
                    "sample": CustomerSerializer(many=True),
                },
            )
        },
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def preview(self, request, *args, **kwargs) -> Response:
        """Count and sample (10) the customers a rule would select, without saving it."""
        serializer = SegmentPreviewRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        resolved = services.rule_resolve(serializer.validated_data["rule"])
        rule = Rule(
            all=tuple(t.pk for t in resolved["all"]),
            any=tuple(t.pk for t in resolved["any"]),
            none=tuple(t.pk for t in resolved["none"]),
            status_labels=tuple(lb.pk for lb in resolved["status_labels"]),
        )
        members = rule_members(rule, customer_list_queryset())
        sample = CustomerSerializer(
            members.order_by("id")[:10], many=True, context=self.get_serializer_context()
        ).data
        return Response({"customer_count": rule_count(rule), "sample": sample})
