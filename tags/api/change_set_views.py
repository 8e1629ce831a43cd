"""Change-sets over the API: the record of every bulk change, read-only."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.response import Response

from config.api.viewsets import ApiViewMixin, lookup_by_id
from tags.api.serializers import ChangeSetSerializer
from tags.filtersets import ChangeSetFilterSet
from tags.models import ChangeSet


class ChangeSetViewSet(ApiViewMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Bulk changes (``retag``, ``bulk_tag``): state, counts and progress
    (``tags.view_changeset``)."""

    serializer_class = ChangeSetSerializer
    filterset_class = ChangeSetFilterSet
    envelope = "change_set"
    envelope_plural = "change_sets"
    identify_by = {"id": lookup_by_id}
    operation_prefix = "change_set"
    ordering_fields = ("id", "created_at")

    def get_queryset(self):
        return ChangeSet.objects.select_related("created_by", "reverted_by")

    @extend_schema(
        summary="List change-sets",
        description="Every bulk change, oldest first by default (`ordering=-id` for the newest "
        "first); filter by `state` and `kind`.",
    )
    def list(self, request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="Get a change-set",
        description="One change-set, with its `counts` and its `progress` (0–1) while it runs.",
    )
    def retrieve(self, request, *args, **kwargs) -> Response:
        return self.enveloped(self.get_object())
