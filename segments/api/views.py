from drf_spectacular.utils import extend_schema
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework.decorators import action
from rest_framework.response import Response

from config.api.viewsets import ApiModelViewSet, lookup_by_id
from segments import services
from segments.api.serializers import (
    SegmentCountSerializer,
    SegmentSerializer,
)
from segments.models import Segment
from segments.selectors import segment_count

RULE_ERRORS = ["unknown_tags", "tag_in_two_lists", "invalid_label"]


@extend_validation_errors(
    ["empty_rule"], field_name="rule", actions=["create", "update", "partial_update"]
)
@extend_validation_errors(
    RULE_ERRORS, field_name="rule.all", actions=["create", "update", "partial_update"]
)
@extend_validation_errors(
    RULE_ERRORS, field_name="rule.any", actions=["create", "update", "partial_update"]
)
@extend_validation_errors(
    RULE_ERRORS, field_name="rule.none", actions=["create", "update", "partial_update"]
)
@extend_validation_errors(
    ["invalid_label"],
    field_name="rule.status_labels",
    actions=["create", "update", "partial_update"],
)
class SegmentViewSet(ApiModelViewSet):
    """Segments: customers defined by tag rules, counted and listed by the database."""

    serializer_class = SegmentSerializer
    envelope = "segment"
    envelope_plural = "segments"
    identify_by = {"id": lookup_by_id}
    use_etags = True
    identify_by_actions = ("count",)
    conflict_actions = ("create", "update", "partial_update")
    action_permissions = {
        "count": ["segments.view_segment"],
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
