from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework.response import Response

from config.api.viewsets import ApiModelViewSet
from customers import services
from customers.api.base import CustomerViewMixin
from customers.api.representations import customer_representations
from customers.api.serializers import CustomerSerializer
from customers.filtersets import CustomerFilterSet
from customers.models import Customer
from tags.selectors import customer_list_queryset, customer_rows


@extend_validation_errors(["does_not_exist"], field_name="segment", actions=["list"])
@extend_validation_errors(
    ["no_identity"], field_name="name", actions=["create", "update", "partial_update"]
)
@extend_validation_errors(["max_length"], field_name="reason", actions=["destroy"])
class CustomerViewSet(CustomerViewMixin, ApiModelViewSet):
    """Customers; ``{id}`` may be the id, reference_id, email or mobile (``identify_by``)."""

    serializer_class = CustomerSerializer
    filterset_class = CustomerFilterSet
    conflict_actions = ("create", "update", "partial_update")
    use_etags = True
    ordering_fields = ("id", "created_at")

    def get_queryset(self):
        if self.action == "list":
            return Customer.objects.all()  # read as rows by ``list``, not as instances
        return customer_list_queryset()

    def list(self, request, *args, **kwargs) -> Response:
        """A page of customers built from rows (``customers.api.representations``): the same
        JSON as ``CustomerSerializer``, in two queries whatever the page's size."""
        includes = self.get_includes()
        queryset = self.get_queryset()
        if any(key in CustomerFilterSet.base_filters for key in request.query_params):
            # without a filter named the filterset selects everyone; the order is the page's
            queryset = self.filter_queryset(queryset)
        page = self.paginate_queryset(
            customer_rows(queryset, metadata="customer.metadata" in includes)
        )
        return self.get_paginated_response(
            customer_representations(page, includes=includes, request=request)
        )

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
