from config.api.viewsets import ApiModelViewSet, lookup_by_id
from statuses import services
from statuses.api.serializers import StatusLabelSerializer, StatusSerializer
from statuses.models import Status, StatusLabel


class StatusViewSet(ApiModelViewSet):
    """Statuses (Active, Inactive, Suspended…) and the labels under each."""

    serializer_class = StatusSerializer
    envelope = "status"
    envelope_plural = "statuses"
    identify_by = {"id": lookup_by_id}
    use_etags = True
    conflict_actions = ("create", "update", "partial_update", "destroy")
    ordering_fields = ("id", "name")

    def get_queryset(self):
        return Status.objects.prefetch_related("labels", "allowed_next")

    def refetch(self, status: Status) -> Status:
        return self.get_queryset().get(pk=status.pk)

    def perform_create(self, serializer) -> Status:
        return self.refetch(
            services.status_save(
                status=None,
                data=serializer.validated_data,
                actor=self.request.user,
                reason=self.get_reason(serializer),
            )
        )

    def perform_update(self, serializer) -> Status:
        return self.refetch(
            services.status_save(
                status=serializer.instance,
                data=serializer.validated_data,
                actor=self.request.user,
                reason=self.get_reason(serializer),
                if_match=self.get_if_match(),
            )
        )

    def perform_destroy(self, instance: Status) -> None:
        services.status_delete(
            status=instance,
            actor=self.request.user,
            reason=self.get_reason(),
            if_match=self.get_if_match(),
        )


class StatusLabelViewSet(ApiModelViewSet):
    """Status labels; a label's name is unique across all statuses."""

    serializer_class = StatusLabelSerializer
    envelope = "status_label"
    envelope_plural = "status_labels"
    identify_by = {"id": lookup_by_id}
    use_etags = True
    conflict_actions = ("create", "update", "partial_update", "destroy")
    ordering_fields = ("id", "name")

    def get_queryset(self):
        return StatusLabel.objects.select_related("status").prefetch_related("allowed_next")

    def refetch(self, label: StatusLabel) -> StatusLabel:
        return self.get_queryset().get(pk=label.pk)

    def perform_create(self, serializer) -> StatusLabel:
        return self.refetch(
            services.label_save(
                label=None,
                data=serializer.validated_data,
                actor=self.request.user,
                reason=self.get_reason(serializer),
            )
        )

    def perform_update(self, serializer) -> StatusLabel:
        return self.refetch(
            services.label_save(
                label=serializer.instance,
                data=serializer.validated_data,
                actor=self.request.user,
                reason=self.get_reason(serializer),
                if_match=self.get_if_match(),
            )
        )

    def perform_destroy(self, instance: StatusLabel) -> None:
        services.label_delete(
            label=instance,
            actor=self.request.user,
            reason=self.get_reason(),
            if_match=self.get_if_match(),
        )
