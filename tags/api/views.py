from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework.decorators import action
from rest_framework.response import Response

from config.api.viewsets import ApiModelViewSet, lookup_by_field, lookup_by_id, sublist_schema
from tags import selectors, services
from tags.api.serializers import TagHistoryEntrySerializer, TagRestoreSerializer, TagSerializer
from tags.filtersets import TagFilterSet
from tags.models import TAG_REFERENCE_RE, Tag


@extend_validation_errors(
    ["unique"], field_name="metadata.info.INDEX.key", methods=["post", "put", "patch"]
)
@extend_validation_errors(
    ["unique"], field_name="metadata.list.INDEX", methods=["post", "put", "patch"]
)
@extend_validation_errors(
    ["null", "invalid"], field_name="metadata.info.INDEX", methods=["post", "put", "patch"]
)
@extend_validation_errors(
    ["null", "not_a_list", "max_length", "empty"],
    field_name="metadata.info",
    methods=["post", "put", "patch"],
)
class TagViewSet(ApiModelViewSet):
    """Customer tags (Payiano shape): soft delete, restore, history; ``identify_by=reference_id``."""

    serializer_class = TagSerializer
    filterset_class = TagFilterSet
    envelope = "customer_tag"
    envelope_plural = "customer_tags"
    identify_by = {
        "id": lookup_by_id,
        "reference_id": lookup_by_field(
            "reference_id", lambda value: value if TAG_REFERENCE_RE.match(value) else None
        ),
    }
    identify_by_actions = ("restore", "history")
    enveloped_actions = ("restore",)
    operation_prefix = "tag"  # operation ids tag_list, tag_restore… (not customer_tag_…)
    includes_choices = ("customer_tag.metadata",)
    action_permissions = {"restore": ["tags.restore_tag"], "history": ["tags.view_tag"]}
    conflict_actions = ("create", "update", "partial_update", "destroy", "restore")
    use_etags = True
    ordering_fields = ("id", "name", "created_at", "customer_count")

    def get_queryset(self):
        queryset = Tag.objects.with_customer_count()
        if self.action == "history":  # the tag itself is not shown there
            return queryset
        return queryset.prefetch_related(
            Prefetch("aliases", queryset=Tag.objects.only("id", "name", "merged_into_id"))
        )

    def refetch(self, tag: Tag) -> Tag:
        """The tag as the API shows it (with its customer count), after a write."""
        return self.get_queryset().get(pk=tag.pk)

    def perform_create(self, serializer) -> Tag:
        tag = services.tag_create(
            data=serializer.validated_data,
            actor=self.request.user,
            reason=self.get_reason(serializer),
        )
        return self.refetch(tag)

    def perform_update(self, serializer) -> Tag:
        tag = services.tag_update(
            tag=serializer.instance,
            data=serializer.validated_data,
            actor=self.request.user,
            reason=self.get_reason(serializer),
            if_match=self.get_if_match(),
        )
        return self.refetch(tag)

    def perform_destroy(self, instance: Tag) -> Tag:
        tag = services.tag_soft_delete(
            tag=instance,
            actor=self.request.user,
            reason=self.get_reason(),
            if_match=self.get_if_match(),
        )
        return self.refetch(tag)

    @extend_schema(
        responses={200: TagSerializer},
        description="Soft-delete: the tag and its assignments are hidden until restored.",
    )
    def destroy(self, request, *args, **kwargs):
        return super().destroy(request, *args, **kwargs)

    @extend_schema(
        operation_id="tag_restore",
        summary="Restore a deleted tag",
        request=TagRestoreSerializer,
        responses={200: TagSerializer},
    )
    @action(detail=True, methods=["post"])
    def restore(self, request, *args, **kwargs) -> Response:
        """Bring a soft-deleted tag back, with every assignment it had."""
        serializer = TagRestoreSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tag = services.tag_restore(
            tag=self.get_object(),
            actor=request.user,
            reason=serializer.validated_data.get("reason", ""),
        )
        return self.enveloped(self.refetch(tag))

    @extend_schema(
        operation_id="tag_history",
        summary="List a tag's history",
        **sublist_schema("TagHistoryPage", "history", TagHistoryEntrySerializer),
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def history(self, request, *args, **kwargs) -> Response:
        """Every create, change, soft delete and restore, oldest first, with who and why."""
        tag = self.get_object()
        return self.paginated_response(
            selectors.tag_history_queryset(tag=tag),
            TagHistoryEntrySerializer,
            envelope="history",
            ordering="history_id",
            transform=lambda records: selectors.tag_history_entries(tag=tag, records=records),
        )
