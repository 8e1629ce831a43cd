from drf_spectacular.utils import OpenApiParameter, extend_schema
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework.decorators import action
from rest_framework.exceptions import ErrorDetail, NotFound, ValidationError
from rest_framework.response import Response

from config.api.fields import max_length_error
from config.api.viewsets import MAX_IDENTIFIER_LENGTH, ApiModelViewSet, sublist_schema
from customers import selectors, services
from customers.api.base import CustomerViewMixin
from customers.api.serializers import CustomerSerializer
from customers.filtersets import CustomerFilterSet
from customers.models import Customer
from statuses import services as status_services
from statuses.api.serializers import (
    CustomerStatusRequestSerializer,
    StatusChangeCreatedSerializer,
    StatusChangeRequestSerializer,
    StatusChangeSerializer,
)
from statuses.models import SOURCES, StatusChange

ACCOUNT_ID_MAX_LENGTH = StatusChange._meta.get_field("account_id").max_length
# Capillary's identifierName → our identify_by
LOOKUP_IDENTIFIERS = {
    "mobile": "mobile",
    "email": "email",
    "externalId": "reference_id",
    "id": "id",
}


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
@extend_validation_errors(["does_not_exist"], field_name="segment", actions=["list"])
@extend_validation_errors(
    ["no_identity"], field_name="name", actions=["create", "update", "partial_update"]
)
@extend_validation_errors(["max_length"], field_name="reason", actions=["destroy"])
class CustomerViewSet(CustomerViewMixin, ApiModelViewSet):
    """Customers; ``{id}`` may be the id, reference_id, email or mobile (``identify_by``)."""

    serializer_class = CustomerSerializer
    filterset_class = CustomerFilterSet
    identify_by_actions = ("status", "status_history")
    action_permissions = {
        "lookup_status": ["statuses.change_customer_status"],
        "status": ["statuses.change_customer_status"],
        "status_history": ["customers.view_customer"],
    }
    conflict_actions = ("create", "update", "partial_update", "lookup_status", "status")
    use_etags = True
    ordering_fields = ("id", "created_at")

    def get_queryset(self):
        if self.action == "status":
            return Customer.objects.all()  # the write reads what it needs itself
        return selectors.customer_list_queryset()

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

    def _status_change(
        self, customer: Customer, data: dict, source: str, account_id=None
    ) -> Response:
        result = status_services.customer_status_change(
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
        params = request.query_params
        source = params.get("source")
        if source not in SOURCES:
            raise ValidationError(
                {
                    "source": [
                        ErrorDetail(f"Invalid source: must be one of {', '.join(SOURCES)}.", "8003")
                    ]
                }
            )
        identifier = params.get("identifierName")
        if identifier not in LOOKUP_IDENTIFIERS:
            raise ValidationError(
                {
                    "identifierName": [
                        ErrorDetail(
                            f"Lookup, invalid identifier passed: identifierName must be one of {', '.join(LOOKUP_IDENTIFIERS)}.",
                            "8013",
                        )
                    ]
                }
            )
        value = params.get("identifierValue", "")
        if not value.strip():
            raise ValidationError(
                {
                    "identifierValue": [
                        ErrorDetail(
                            "Lookup, invalid identifier passed: identifierValue is missing.", "8013"
                        )
                    ]
                }
            )
        if len(value) > MAX_IDENTIFIER_LENGTH:
            raise ValidationError({"identifierValue": [max_length_error(MAX_IDENTIFIER_LENGTH)]})
        account_id = params.get("accountId")
        if account_id is not None and len(account_id) > ACCOUNT_ID_MAX_LENGTH:
            raise ValidationError({"accountId": [max_length_error(ACCOUNT_ID_MAX_LENGTH)]})
        if params.get("async") not in (None, "true", "false"):
            raise ValidationError({"async": [ErrorDetail("Must be true or false.", "invalid")]})
        serializer = StatusChangeRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ids, _ = selectors.customers_resolve(
            identifiers=[value], identify_by=LOOKUP_IDENTIFIERS[identifier]
        )
        if not ids:
            raise NotFound("Customer not found for the given identifiers.", code="8015")
        return self._status_change(
            Customer.objects.get(pk=ids[0]),
            serializer.validated_data,
            source,
            account_id,
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
        changes = StatusChange.objects.filter(customer=customer).select_related(
            "from_label", "to_label__status", "created_by"
        )
        return self.paginated_response(changes, StatusChangeSerializer, envelope="status_changes")
