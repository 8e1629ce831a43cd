from config.api.viewsets import ApiModelViewSet, lookup_by_field, lookup_by_id
from customers import services
from customers.api.serializers import CustomerSerializer
from customers.filtersets import CustomerFilterSet
from customers.identifiers import is_reference_id, normalize_email, normalize_mobile
from customers.models import Customer


class CustomerViewSet(ApiModelViewSet):
    """Customers; ``{id}`` may be the id, reference_id, email or mobile (``identify_by``)."""

    queryset = Customer.objects.all()
    serializer_class = CustomerSerializer
    filterset_class = CustomerFilterSet
    envelope = "customer"
    envelope_plural = "customers"
    identify_by = {
        "id": lookup_by_id,
        "reference_id": lookup_by_field(
            "reference_id", lambda value: value if is_reference_id(value) else None
        ),
        "email": lookup_by_field("email", normalize_email),
        "mobile": lookup_by_field("mobile", normalize_mobile),
    }
    includes_choices = ("customer.metadata",)
    conflict_actions = ("create", "update", "partial_update")
    use_etags = True
    ordering_fields = ("id", "created_at")

    def perform_create(self, serializer) -> Customer:
        return services.customer_create(
            data=serializer.validated_data,
            actor=self.request.user,
            reason=self.get_reason(serializer),
        )

    def perform_update(self, serializer) -> Customer:
        return services.customer_update(
            customer=serializer.instance,
            data=serializer.validated_data,
            actor=self.request.user,
            reason=self.get_reason(serializer),
            if_match=self.get_if_match(),
        )

    def perform_destroy(self, instance: Customer) -> None:
        services.customer_delete(
            customer=instance,
            actor=self.request.user,
            reason=self.get_reason(),
            if_match=self.get_if_match(),
        )
