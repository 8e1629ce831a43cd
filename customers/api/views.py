from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import action
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.response import Response

from config.api.viewsets import ApiModelViewSet, lookup_by_field, lookup_by_id
from customers import selectors, services
from customers.api.serializers import CustomerSerializer, CustomerUntagResponseSerializer
from customers.filtersets import CustomerFilterSet
from customers.identifiers import is_reference_id, normalize_email, normalize_mobile
from customers.models import Customer
from segments.services import segments_for_tags
from tags import services as tag_services
from tags.api.tagging_serializers import (
    BulkTagRequestSerializer,
    BulkTagResponseSerializer,
    CustomerTagRequestSerializer,
    CustomerTagResponseSerializer,
    CustomerTagsListSerializer,
    TagAssignmentSerializer,
)

BULK_LIMIT = 10_000


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
    includes_choices = ("customer.metadata", "customer.tag_details")
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
        request=CustomerTagRequestSerializer, responses={200: CustomerTagResponseSerializer}
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
        metadata = data.get("tag_metadata", {})
        change = tag_services.customer_tags_change(
            customer=customer,
            add=data["tags_to_add"],
            remove=data["tags_to_remove"],
            actor=request.user,
            reason=data.get("reason", ""),
            source=metadata.get("source") or "api",
            category=metadata.get("category", ""),
            expires_at=metadata.get("expiry_date"),
            create_missing=data["create_missing"],
        )
        body = {
            "id": customer.id,
            "current_tags": change.current_tags,
            "tags_added": change.added,
            "tags_removed": change.removed,
            "tag_count": len(change.current_tags),
            "segments": segments_for_tags(customer=customer, tag_names=change.current_tags),
            "warnings": change.warnings,
            "updated_at": change.at,
            "updated_by": request.user.get_username(),
            "success": True,
        }
        return Response(
            CustomerTagResponseSerializer(body, context=self.get_serializer_context()).data
        )

    @extend_schema(responses={200: CustomerTagsListSerializer})
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
        parameters=[
            OpenApiParameter(
                "keys", str, required=True, description="Tag names to remove, comma-separated."
            )
        ],
        responses={200: CustomerUntagResponseSerializer},
        request=None,
    )
    @tags.mapping.delete
    def untag(self, request, *args, **kwargs) -> Response:
        """Remove several tags at once (Masivo shape); unknown or absent keys are warnings."""
        customer = self.get_object()
        keys = [k for k in request.query_params.get("keys", "").split(",") if k.strip()]
        if not keys:
            raise ValidationError(
                {"keys": [ErrorDetail("Give at least one tag name.", "required")]}
            )
        change = tag_services.customer_tags_change(
            customer=customer,
            remove=[k.strip() for k in keys],
            actor=request.user,
            reason=request.query_params.get("reason", ""),
        )
        fresh = selectors.customer_list_queryset().get(pk=customer.pk)
        return Response({"customer": self.get_serializer(fresh).data, "warnings": change.warnings})

    @extend_schema(request=BulkTagRequestSerializer, responses={200: BulkTagResponseSerializer})
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
                filters=request.data.get("filter") if "filter" in data else None,
                limit=BULK_LIMIT,
            )
        except DjangoValidationError as error:
            raise ValidationError({"filter": error.messages}) from None
        metadata = data.get("tag_metadata", {})
        result = tag_services.customers_tags_bulk_change(
            customer_ids=ids,
            add=data["tags_to_add"],
            remove=data["tags_to_remove"],
            actor=request.user,
            reason=data.get("reason", ""),
            source=metadata.get("source") or "bulk",
            category=metadata.get("category", ""),
            expires_at=metadata.get("expiry_date"),
            create_missing=data["create_missing"],
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
