from drf_spectacular.utils import extend_schema, inline_serializer
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from config.api.viewsets import ApiModelViewSet, lookup_by_id, sublist_schema
from customers.api.serializers import CustomerSerializer
from customers.selectors import customer_list_queryset
from segments import services
from segments.api.serializers import (
    SegmentCountSerializer,
    SegmentPreviewRequestSerializer,
    SegmentSerializer,
)
from segments.models import Segment
from segments.rules import Rule, rule_count
from segments.selectors import rule_members, segment_count, segment_members

RULE_ERRORS = ["unknown_tags", "tag_in_two_lists", "invalid_label"]


@extend_validation_errors(
    ["empty_rule"], field_name="rule", actions=["create", "update", "partial_update", "preview"]
)
@extend_validation_errors(
    RULE_ERRORS, field_name="rule.all", actions=["create", "update", "partial_update", "preview"]
)
@extend_validation_errors(
    RULE_ERRORS, field_name="rule.any", actions=["create", "update", "partial_update", "preview"]
)
@extend_validation_errors(
    RULE_ERRORS, field_name="rule.none", actions=["create", "update", "partial_update", "preview"]
)
@extend_validation_errors(
    ["invalid_label"],
    field_name="rule.status_labels",
    actions=["create", "update", "partial_update", "preview"],
)
class SegmentViewSet(ApiModelViewSet):
    """Segments: customers defined by tag rules, counted and listed by the database."""

    serializer_class = SegmentSerializer
    envelope = "segment"
    envelope_plural = "segments"
    identify_by = {"id": lookup_by_id}
    use_etags = True
    identify_by_actions = ("customers", "count")
    conflict_actions = ("create", "update", "partial_update")
    action_permissions = {
        "customers": ["segments.view_segment", "customers.view_customer"],
        "count": ["segments.view_segment"],
        "preview": ["segments.view_segment", "customers.view_customer"],
    }
    ordering_fields = ("id", "name", "created_at")

    def get_queryset(self):
        return Segment.objects.prefetch_related(
            "tags_all", "tags_any", "tags_none", "status_labels"
        )

    def refetch(self, segment: Segment) -> Segment:
        return self.get_queryset().get(pk=segment.pk)

    def perform_create(self, serializer) -> Segment:
        return self.refetch(
            services.segment_save(
                segment=None,
                data=serializer.validated_data,
                actor=self.request.user,
                reason=self.get_reason(serializer),
            )
        )

    def perform_update(self, serializer) -> Segment:
        return self.refetch(
            services.segment_save(
                segment=serializer.instance,
                data=serializer.validated_data,
                actor=self.request.user,
                reason=self.get_reason(serializer),
                if_match=self.get_if_match(),
            )
        )

    def perform_destroy(self, instance: Segment) -> None:
        services.segment_delete(
            segment=instance,
            actor=self.request.user,
            reason=self.get_reason(),
            if_match=self.get_if_match(),
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
        operation_id="segment_count",
        summary="Count a segment's customers",
        responses={200: SegmentCountSerializer},
        filters=False,
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def count(self, request, *args, **kwargs) -> Response:
        """How many customers are in the segment now (one COUNT in the database)."""
        segment = self.get_object()
        return Response({"segment_id": segment.id, "customer_count": segment_count(segment)})

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
