"""A customer's status label over the API: set it (by ``{id}`` or by an identifier lookup) and
list its changes. Same URLs as the other customer routes (``/customers/…``)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from config.api.viewsets import MAX_IDENTIFIER_LENGTH, ApiViewMixin, sublist_schema
from customers import selectors, services
from customers.api.base import CustomerViewMixin
from customers.api.serializers import (
    ACCOUNT_ID_MAX_LENGTH,
    LOOKUP_IDENTIFIERS,
    CustomerSerializer,
    CustomerStatusLookupQuerySerializer,
    CustomerStatusRequestSerializer,
    StatusChangeCreatedSerializer,
    StatusChangeRequestSerializer,
    StatusChangeSerializer,
)
from customers.models import Customer
from statuses.models import SOURCES
from statuses.selectors import customer_status_changes


@extend_validation_errors(["8003"], field_name="source", actions=["lookup_status"])
@extend_validation_errors(["8013"], field_name="identifierName", actions=["lookup_status"])
@extend_validation_errors(
    ["8013", "max_length"], field_name="identifierValue", actions=["lookup_status"]
)
@extend_validation_errors(["max_length"], field_name="accountId", actions=["lookup_status"])
@extend_validation_errors(["invalid"], field_name="async", actions=["lookup_status"])
@extend_validation_errors(
    ["invalid_label", "required", "max_length"],
    field_name="label",
    actions=["lookup_status", "status"],
)
@extend_validation_errors(
    ["required", "max_length"], field_name="reason", actions=["lookup_status", "status"]
)
class CustomerStatusViewSet(CustomerViewMixin, ApiViewMixin, viewsets.GenericViewSet):
    """A customer's status label; ``{id}`` is any identifier ``identify_by`` names, as on
    every customer route (whose conventions are the customer viewset's)."""

    serializer_class = CustomerSerializer  # what OPTIONS describes, as on the other routes
    identify_by_actions = ("status", "status_history")
    action_permissions = {
        "lookup_status": ["statuses.change_customer_status"],
        "status": ["statuses.change_customer_status"],
        "status_history": ["customers.view_customer"],
    }
    conflict_actions = ("lookup_status", "status")

    def get_queryset(self):
        return Customer.objects.all()  # the change reads what it needs itself

    def _status_change(
        self, customer: Customer, data: dict, source: str, account_id: str | None = None
    ) -> Response:
        result = services.customer_status_change(
            customer=customer,
            label=data["label"],
            reason=data["reason"],
            source=source,
            actor=self.request.user,
            effective_at=data.get("date"),
            account_id=account_id,
        )
        return Response(
            {"createdId": result.change.pk if result.change else None, "warnings": result.warnings}
        )

    @extend_schema(
        operation_id="customer_status_set_by_lookup",
        summary="Set the status label of a customer found by an identifier",
        parameters=[
            OpenApiParameter(
                "source",
                str,
                required=True,
                enum=list(SOURCES),
                description="Where the change comes from (error 8003 if missing or invalid).",
            ),
            OpenApiParameter(
                "identifierName",
                str,
                required=True,
                enum=list(LOOKUP_IDENTIFIERS),
                description="`externalId` is the reference_id (error 8013 if missing or invalid).",
            ),
            OpenApiParameter(
                "identifierValue",
                {"type": "string", "pattern": r"\S", "maxLength": MAX_IDENTIFIER_LENGTH},
                required=True,
                description="Value of the identifier (error 8013 if missing).",
            ),
            OpenApiParameter(
                "accountId",
                {"type": "string", "maxLength": ACCOUNT_ID_MAX_LENGTH},
                description="Account of the source, kept with the change.",
            ),
            OpenApiParameter(
                "async",
                bool,
                description="Accepted for compatibility; changes always apply before the response.",
            ),
        ],
        request=StatusChangeRequestSerializer,
        responses={200: StatusChangeCreatedSerializer},
    )
    @action(
        detail=False,
        methods=["put"],
        url_path="lookup/status",
        filter_backends=[],
        pagination_class=None,
    )
    def lookup_status(self, request, *args, **kwargs) -> Response:
        """Change the status label of the customer found by an identifier (Capillary shape)."""
        query = CustomerStatusLookupQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        serializer = StatusChangeRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        params = query.validated_data
        ids, _ = selectors.customers_resolve(
            identifiers=[params["identifierValue"]],
            identify_by=LOOKUP_IDENTIFIERS[params["identifierName"]],
        )
        if not ids:
            raise NotFound("Customer not found for the given identifiers.", code="8015")
        return self._status_change(
            Customer.objects.get(pk=ids[0]),
            serializer.validated_data,
            params["source"],
            params.get("accountId"),
        )

    @extend_schema(
        operation_id="customer_status_set",
        summary="Set a customer's status label",
        request=CustomerStatusRequestSerializer,
        responses={200: StatusChangeCreatedSerializer},
    )
    @action(detail=True, methods=["put"])
    def status(self, request, *args, **kwargs) -> Response:
        """Change this customer's status label, with a reason."""
        customer = self.get_object()
        serializer = CustomerStatusRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._status_change(
            customer, serializer.validated_data, serializer.validated_data["source"]
        )

    @extend_schema(
        operation_id="customer_status_history",
        summary="List a customer's status changes",
        **sublist_schema("StatusHistoryPage", "status_changes", StatusChangeSerializer),
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def status_history(self, request, *args, **kwargs) -> Response:
        """Every status change of the customer, oldest first, with who and why."""
        customer = self.get_object()
        return self.paginated_response(
            customer_status_changes(customer_id=customer.pk),
            StatusChangeSerializer,
            envelope="status_changes",
        )
