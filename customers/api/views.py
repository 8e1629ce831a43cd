from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework.decorators import action
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings

from config.api.openapi import comma_separated_schema
from config.api.viewsets import ApiModelViewSet, lookup_by_field, lookup_by_id
from customers import selectors, services
from customers.api.serializers import CustomerSerializer, CustomerUntagResponseSerializer
from customers.filtersets import CustomerFilterSet
from customers.identifiers import is_reference_id, normalize_email, normalize_mobile
from customers.models import Customer
from segments.services import segments_for_customer
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
    identify_by_actions = ("tag", "tags", "untag")
    includes_choices = ("customer.metadata", "customer.tag_details", "customer.segments")
    include_permissions = {"customer.segments": "segments.view_segment"}
    action_permissions = {
        "tag": ["customers.tag_customer"],
        "tags": ["customers.view_customer"],
        "untag": ["customers.tag_customer"],
        "bulk_tag": ["customers.tag_customer"],
    }
    conflict_actions = ("create", "update", "partial_update", "tag", "untag", "bulk_tag")
    use_etags = True
    ordering_fields = ("id", "created_at")

    def get_queryset(self):
        if self.action in {"tag", "untag"}:
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
