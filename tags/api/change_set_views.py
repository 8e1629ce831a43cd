"""Change-sets over the API: the record of every bulk change; cancel a running one, revert one."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from config.api.openapi import location_header
from config.api.viewsets import ApiViewMixin, lookup_by_id
from tags.api.serializers import (
    ChangeSetCancelSerializer,
    ChangeSetRevertSerializer,
    ChangeSetSerializer,
)
from tags.filtersets import ChangeSetFilterSet
from tags.models import ChangeSet
from tags.services import change_set_cancel, change_set_revert_request


class ChangeSetViewSet(ApiViewMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Bulk changes (``retag``, ``bulk_tag``): state, counts and progress
    (``tags.view_changeset``)."""

    serializer_class = ChangeSetSerializer
    filterset_class = ChangeSetFilterSet
    envelope = "change_set"
    envelope_plural = "change_sets"
    identify_by = {"id": lookup_by_id}
    operation_prefix = "change_set"
    enveloped_actions = ("revert", "cancel")
    # a revert writes customers' tags too
    action_permissions = {
        "revert": ["tags.change_changeset", "customers.tag_customer"],
        "cancel": ["tags.change_changeset"],
    }
    conflict_actions = ("revert", "cancel")
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

    @extend_schema(
        operation_id="change_set_revert",
        summary="Revert a change-set",
        description="Undo what the change-set changed, per customer and tag, as a new "
        "change-set of kind `revert` (answered, with `Location`): an assignment it added is "
        "taken off and one it removed comes back with its category, source, expiry and "
        "assigner, only where the state is still what it left. Anything changed since is a "
        "conflict, counted and listed, never overwritten. The original becomes `reverted`; "
        "a revert can be reverted in turn. `201 Created` with the revert done; over "
        "`CHANGE_SET_SYNC_MAX` (1,000) affected customers it runs in the background instead: "
        "`202 Accepted` with the revert `planned` (follow its `Location` for progress; "
        "`POST .../cancel` stops it after the batch under way). 409 `not_revertible` for a "
        "change-set running or reverted already, 409 `revert_window_closed` once it finished "
        "more than `CHANGE_SET_RETENTION_DAYS` (30) ago.",
        request=ChangeSetRevertSerializer,
        responses={
            201: OpenApiResponse(ChangeSetSerializer, description="The revert, done."),
            202: OpenApiResponse(
                ChangeSetSerializer, description="The revert, planned in the background."
            ),
        },
        parameters=[location_header((201, 202), "The revert's URL: `/api/v1/change_sets/{id}`.")],
    )
    @action(detail=True, methods=["post"])
    def revert(self, request, *args, **kwargs) -> Response:
        serializer = ChangeSetRevertSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        revert = change_set_revert_request(
            change_set=self.get_object(),
            actor=request.user,
            reason=serializer.validated_data.get("reason", ""),
        )
        accepted = revert.state == ChangeSet.State.PLANNED
        response = self.enveloped(
            self.get_queryset().get(pk=revert.pk),
            status.HTTP_202_ACCEPTED if accepted else status.HTTP_201_CREATED,
        )
        response["Location"] = f"/api/v1/change_sets/{revert.pk}"
        return response

    @extend_schema(
        operation_id="change_set_cancel",
        summary="Cancel a background change-set",
        description="Stop a change-set running in the background (a large `bulk_tag`): it is "
        "`cancelled` at once, the batch under way finishes and no other starts. What it did "
        "stays (revert it to undo that). 409 `not_cancellable` for one that is not planned "
        "or running in the background.",
        request=ChangeSetCancelSerializer,
        responses={200: ChangeSetSerializer},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, *args, **kwargs) -> Response:
        ChangeSetCancelSerializer(data=request.data).is_valid(raise_exception=True)
        change_set = change_set_cancel(change_set=self.get_object())
        return self.enveloped(self.get_queryset().get(pk=change_set.pk))
