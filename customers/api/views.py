from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework.decorators import action
from rest_framework.exceptions import ErrorDetail, NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings

from config.api.openapi import comma_separated_schema
from config.api.viewsets import (
    MAX_IDENTIFIER_LENGTH,
    ApiModelViewSet,
    lookup_by_field,
    lookup_by_id,
    sublist_schema,
)
from customers import selectors, services
from customers.api.serializers import CustomerSerializer, CustomerUntagResponseSerializer
from customers.filtersets import CustomerFilterSet
from customers.identifiers import is_reference_id, normalize_email, normalize_mobile
from customers.models import Customer
from segments.services import segments_for_customer
from statuses.api.serializers import (
    CustomerStatusRequestSerializer,
    StatusChangeCreatedSerializer,
    StatusChangeRequestSerializer,
    StatusChangeSerializer,
)
from statuses.models import SOURCES, StatusChange
from tags import services as tag_services
from tags.api.tagging_serializers import (
    TAG_NAME_PATTERN,
    BulkTagRequestSerializer,
    BulkTagResponseSerializer,
    CustomerTagRequestSerializer,
    CustomerTagResponseSerializer,
    CustomerTagsListSerializer,
    CustomerUntagQuerySerializer,
    TagAssignmentSerializer,
)

BULK_LIMIT = 10_000
ACCOUNT_ID_MAX_LENGTH = StatusChange._meta.get_field("account_id").max_length
# Capillary's identifierName → our identify_by
LOOKUP_IDENTIFIERS = {
    "mobile": "mobile",
    "email": "email",
    "externalId": "reference_id",
    "id": "id",
}


def _too_long(limit: int) -> ErrorDetail:
    return ErrorDetail(f"Ensure this field has no more than {limit} characters.", "max_length")


def tagging_arguments(data: dict, *, default_source: str) -> dict:
    """The tagging services' keyword arguments from a validated tag/bulk_tag request."""
    metadata = data.get("tag_metadata", {})
    return {
        "add": data["tags_to_add"],
        "remove": data["tags_to_remove"],
        "reason": data.get("reason", ""),
        "source": metadata.get("source") or default_source,
        "category": metadata.get("category", ""),
        "expires_at": metadata.get("expiry_date"),
        "create_missing": data["create_missing"],
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
@extend_validation_errors(
    ["unknown_tags", "tag_inactive", "too_many_tags", "max_length", "invalid"],
    field_name="tags_to_add",
    actions=["tag", "bulk_tag"],
)
@extend_validation_errors(
    ["in_both_lists", "max_length", "invalid"],
    field_name="tags_to_remove",
    actions=["tag", "bulk_tag"],
)
@extend_validation_errors(
    ["invalid", "too_many", "empty_selection"], field_name="filter", actions=["bulk_tag"]
)
@extend_validation_errors(["all_with_selection"], field_name="all", actions=["bulk_tag"])
@extend_validation_errors(["does_not_exist"], field_name="filter.segment", actions=["bulk_tag"])
@extend_validation_errors(["does_not_exist"], field_name="segment", actions=["list"])
@extend_validation_errors(
    ["no_identity"], field_name="name", actions=["create", "update", "partial_update"]
)
@extend_validation_errors(
    ["required", "invalid", "max_length"], field_name="keys", methods=["delete"]
)
@extend_validation_errors(["max_length"], field_name="reason", methods=["delete"])
class CustomerViewSet(ApiModelViewSet):
    """Customers; ``{id}`` may be the id, reference_id, email or mobile (``identify_by``)."""

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
    identify_by_actions = ("tag", "tags", "untag", "status", "status_history")
    includes_choices = ("customer.metadata", "customer.tag_details", "customer.segments")
    include_permissions = {"customer.segments": "segments.view_segment"}
    action_permissions = {
        "tag": ["customers.tag_customer"],
        "tags": ["customers.view_customer"],
        "untag": ["customers.tag_customer"],
        "bulk_tag": ["customers.tag_customer"],
        "lookup_status": ["statuses.change_customer_status"],
        "status": ["statuses.change_customer_status"],
        "status_history": ["customers.view_customer"],
    }
    conflict_actions = (
        "create", "update", "partial_update", "tag", "untag", "bulk_tag", "lookup_status", "status",
    )  # fmt: skip
    use_etags = True
    ordering_fields = ("id", "created_at")

    def get_queryset(self):
        if self.action in {"tag", "untag", "status"}:
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

    @extend_schema(
        operation_id="customer_tags_change",
        summary="Add and remove a customer's tags",
        request=CustomerTagRequestSerializer,
        responses={200: CustomerTagResponseSerializer},
        examples=[
            OpenApiExample(
                "Add two tags, remove one",
                value={
                    "tags_to_add": ["vip", "high_value"],
                    "tags_to_remove": ["prospect"],
                    "create_missing": True,
                    "tag_metadata": {
                        "category": "loyalty",
                        "source": "manual",
                        "expiry_date": "2024-12-31",
                    },
                },
                request_only=True,
            )
        ],
    )
    @action(detail=True, methods=["post"])
    def tag(self, request, *args, **kwargs) -> Response:
        """Add and remove tags in one call (StateSet shape); no-ops come back as warnings."""
        customer = self.get_object()
        serializer = CustomerTagRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        given = data.get("customer_id")
        if given is not None and given.lower() not in {customer.id, self.kwargs["id"].lower()}:
            raise ValidationError(
                {"customer_id": [ErrorDetail("Must equal the {id} of the URL.", "invalid")]}
            )
        change = tag_services.customer_tags_change(
            customer=customer, actor=request.user, **tagging_arguments(data, default_source="api")
        )
        body = {
            "id": customer.id,
            "current_tags": change.current_tags,
            "tags_added": change.added,
            "tags_removed": change.removed,
            "tag_count": len(change.current_tags),
            "segments": segments_for_customer(
                customer=customer, tag_names_by_id=change.current_tag_names_by_id
            ),
            "warnings": change.warnings,
            "updated_at": change.at,
            "updated_by": request.user.get_username(),
            "success": True,
        }
        return Response(
            CustomerTagResponseSerializer(body, context=self.get_serializer_context()).data
        )

    @extend_schema(
        operation_id="customer_tags_list",
        summary="List a customer's tags",
        responses={200: CustomerTagsListSerializer},
    )
    @action(
        detail=True, methods=["get"], url_path="tags", filter_backends=[], pagination_class=None
    )
    def tags(self, request, *args, **kwargs) -> Response:
        """The customer's current tags with the metadata of each assignment."""
        customer = self.get_object()
        return Response(
            {
                "tags": TagAssignmentSerializer(
                    customer.current_assignments, many=True, context=self.get_serializer_context()
                ).data
            }
        )

    @extend_schema(
        operation_id="customer_tags_remove",
        summary="Remove tags from a customer",
        parameters=[
            OpenApiParameter(
                "keys",
                required=True,
                description="Tag names to remove, comma-separated (`keys=vip,prospect`).",
                type=comma_separated_schema(pattern=TAG_NAME_PATTERN),
                style="form",
                explode=False,
            ),
            OpenApiParameter(
                "reason",
                {"type": "string", "maxLength": 255},
                description="Why the tags are removed; kept in the history.",
            ),
        ],
        responses={200: CustomerUntagResponseSerializer},
        request=None,
    )
    @tags.mapping.delete
    def untag(self, request, *args, **kwargs) -> Response:
        """Remove several tags at once (Masivo shape); unknown or absent keys are warnings."""
        customer = self.get_object()
        query = CustomerUntagQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        change = tag_services.customer_tags_change(
            customer=customer,
            remove=query.validated_data["keys"],
            actor=request.user,
            reason=query.validated_data.get("reason", ""),
        )
        fresh = selectors.customer_list_queryset().get(pk=customer.pk)
        return Response({"customer": self.get_serializer(fresh).data, "warnings": change.warnings})

    @extend_schema(
        operation_id="customers_bulk_tag",
        summary="Add and remove tags on many customers",
        request=BulkTagRequestSerializer,
        responses={200: BulkTagResponseSerializer},
        examples=[
            OpenApiExample(
                "By ids",
                value={
                    "customer_ids": ["01jbx6m2qf7d8h4kz9w3n5c0vt"],
                    "tags_to_add": ["winback_2026"],
                    "reason": "Q3 campaign",
                },
                request_only=True,
            )
        ],
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def bulk_tag(self, request, *args, **kwargs) -> Response:
        """The same add/remove for up to 10,000 customers, named by ids or by a filter."""
        serializer = BulkTagRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            ids, unknown = selectors.customers_select(
                identifiers=data.get("customer_ids"),
                identify_by=data["identify_by"],
                filters=data.get("filter", {} if data["all"] else None),
                limit=BULK_LIMIT,
            )
        except DjangoValidationError as error:
            # A filter's own error names it (filter.segment); the selection's names filter.
            raise ValidationError(
                {
                    f"filter.{key}" if key != api_settings.NON_FIELD_ERRORS_KEY else "filter": value
                    for key, value in as_serializer_error(error).items()
                }
            ) from None
        result = tag_services.customers_retag(
            batches=[ids],
            actor=request.user,
            all_or_nothing=True,
            **tagging_arguments(data, default_source="bulk"),
        )
        return Response(
            {
                "matched": result.matched,
                "tags_added": result.tags_added,
                "tags_removed": result.tags_removed,
                "unknown_ids": unknown,
                "warnings": result.warnings,
            }
        )

    def _status_change(
        self, customer: Customer, data: dict, source: str, account_id=None
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
            raise ValidationError({"identifierValue": [_too_long(MAX_IDENTIFIER_LENGTH)]})
        account_id = params.get("accountId")
        if account_id is not None and len(account_id) > ACCOUNT_ID_MAX_LENGTH:
            raise ValidationError({"accountId": [_too_long(ACCOUNT_ID_MAX_LENGTH)]})
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
