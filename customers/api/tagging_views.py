"""Tagging customers over the API: /customers/{id}/tag, /customers/{id}/tags, /customers/bulk_tag.

Requests are parsed by serializers into a ``tags.services.TagChange``; the tags services do
the work; the answers show the customer as the customer endpoints do.
"""

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings

from config.api.fields import api_datetime, wants_unix_ms
from config.api.openapi import comma_separated_schema, location_header
from config.api.viewsets import ApiViewMixin
from customers.api.base import CustomerViewMixin
from customers.api.serializers import CustomerSerializer, CustomerUntagResponseSerializer
from customers.api.tagging_serializers import (
    BulkTagAcceptedSerializer,
    BulkTagRequestSerializer,
    BulkTagResponseSerializer,
    CustomerTagRequestSerializer,
    CustomerTagResponseSerializer,
    CustomerTagsListSerializer,
    CustomerUntagQuerySerializer,
    TagAssignmentSerializer,
)
from customers.filtersets import customers_select
from customers.models import Customer
from customers.selectors import customer_to_change
from segments.services import segments_for_customer
from tags.models import TAG_NAME_PATTERN, ChangeSet
from tags.selectors import customer_list_queryset
from tags.services import (
    ChangeSetPlan,
    TagChange,
    change_set_plan,
    customer_tags_change,
    customers_retag,
    customers_retag_preview,
)

BULK_LIMIT = 10_000
SEGMENTS_PERMISSION = CustomerTagResponseSerializer.field_permissions["segments"]


def tag_change(data: dict, *, default_source: str) -> TagChange:
    """The change a validated tag or bulk_tag request asks for."""
    metadata = data.get("tag_metadata", {})
    return TagChange(
        add=data["tags_to_add"],
        remove=data["tags_to_remove"],
        create_missing=data["create_missing"],
        source=metadata.get("source") or default_source,
        category=metadata.get("category", ""),
        expires_at=metadata.get("expiry_date"),
        reason=data.get("reason", ""),
    )


def bulk_selection(body: dict) -> dict:
    """How a (validated) bulk_tag request chose its customers, as its change-set records it:
    the filter as sent, how many identifiers were listed."""
    selection = {key: body[key] for key in ("filter", "identify_by", "all") if key in body}
    if "customer_ids" in body:
        selection["customer_ids"] = len(body["customer_ids"])
    return selection


def bulk_preview(ids: list, unknown: list, *, change: TagChange, actor) -> dict:
    """The answer to a bulk_tag dry run (BulkTagResponseSerializer's shape)."""
    preview = customers_retag_preview(customer_ids=ids, change=change, actor=actor)
    return {
        "dry_run": True,
        "change_set_id": None,
        "matched": preview.matched,
        "tags_added": sum(preview.gain.values()),
        "tags_removed": sum(preview.lose.values()),
        "unknown_ids": unknown,
        "warnings": preview.warnings,
        "preview": {
            "changed": preview.changed,
            "tags": [
                *({"name": n, "gain": c, "lose": 0} for n, c in preview.gain.items()),
                *({"name": n, "gain": 0, "lose": c} for n, c in preview.lose.items()),
            ],
            "over_limit": preview.over_limit,
            "created_tags": preview.created_tags,
            "sample": preview.sample,
        },
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
# DELETE …/tags (``untag``, a method of the ``tags`` action) is the only DELETE here.
@extend_validation_errors(
    ["required", "invalid", "max_length"], field_name="keys", methods=["delete"]
)
@extend_validation_errors(["max_length"], field_name="reason", methods=["delete"])
class CustomerTaggingViewSet(CustomerViewMixin, ApiViewMixin, viewsets.GenericViewSet):
    """Adding and removing a customer's tags, one customer or many; ``{id}`` may be any
    identifier of the customer (``identify_by``)."""

    serializer_class = CustomerSerializer
    identify_by_actions = ("tag", "tags", "untag")
    action_permissions = {
        "tag": ["customers.tag_customer"],
        "tags": ["customers.view_customer"],
        "untag": ["customers.tag_customer"],
        "bulk_tag": ["customers.tag_customer"],
    }
    conflict_actions = ("tag", "untag", "bulk_tag")

    def get_queryset(self):
        if self.action == "tags":
            return customer_list_queryset()  # with the current assignments
        return Customer.objects.all()

    def find_object(self, lookup: dict) -> Customer | None:
        if self.action == "tag":
            # the write reads what it needs itself; the answer needs the id and the label
            return customer_to_change(lookup)
        return super().find_object(lookup)

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
        result = customer_tags_change(
            customer=customer,
            change=tag_change(data, default_source="api"),
            actor=request.user,
        )
        # The answer is CustomerTagResponseSerializer's shape (the schema's), written out: its
        # values are plain already, and segments are worked out only for who may see them.
        body = {
            "id": customer.id,
            "current_tags": result.current_tags,
            "tags_added": result.added,
            "tags_removed": result.removed,
            "tag_count": len(result.current_tags),
        }
        if request.user.has_perm(SEGMENTS_PERMISSION):
            body["segments"] = segments_for_customer(
                customer=customer, tag_names_by_id=result.current_tag_names_by_id
            )
        body["warnings"] = result.warnings
        body["updated_at"] = api_datetime(result.at, unix_ms=wants_unix_ms({"request": request}))
        body["updated_by"] = request.user.get_username()
        body["success"] = True
        return Response(body)

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
        result = customer_tags_change(
            customer=customer,
            change=TagChange(
                remove=query.validated_data["keys"],
                reason=query.validated_data.get("reason", ""),
            ),
            actor=request.user,
        )
        fresh = customer_list_queryset().get(pk=customer.pk)
        return Response({"customer": self.get_serializer(fresh).data, "warnings": result.warnings})

    @extend_schema(
        operation_id="customers_bulk_tag",
        summary="Add and remove tags on many customers",
        description="The same add/remove for up to 10,000 customers, named by ids or by a "
        "filter, in one transaction. Over `CHANGE_SET_SYNC_MAX` customers (1,000) it runs in "
        "the background instead: `202 Accepted` with the change-set and its `Location` "
        "(`GET /change_sets/{id}` for progress; a customer past the tag limit then fails the "
        "run at its batch, the batches before it kept). `dry_run` previews either.",
        request=BulkTagRequestSerializer,
        responses={
            200: BulkTagResponseSerializer,
            202: OpenApiResponse(
                BulkTagAcceptedSerializer, description="Running in the background."
            ),
        },
        parameters=[location_header(202, "The change-set: `/api/v1/change_sets/{id}`.")],
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
            ids, unknown = customers_select(
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
        change = tag_change(data, default_source="bulk")
        if data["dry_run"]:
            return Response(bulk_preview(ids, unknown, change=change, actor=request.user))
        if len(ids) > settings.CHANGE_SET_SYNC_MAX:
            change_set, warnings = change_set_plan(
                customer_ids=ids,
                change=change,
                actor=request.user,
                selection=bulk_selection(request.data),
            )
            body = {
                "change_set_id": change_set.pk,
                "state": change_set.state,
                "matched": len(ids),
                "unknown_ids": unknown,
                "warnings": warnings,
            }
            location = f"/api/v1/change_sets/{change_set.pk}"
            return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": location})
        result = customers_retag(
            batches=[ids],
            change=change,
            actor=request.user,
            all_or_nothing=True,
            plan=ChangeSetPlan(
                kind=ChangeSet.Kind.BULK_TAG, selection=bulk_selection(request.data), total=len(ids)
            ),
        )
        return Response(
            {
                "dry_run": False,
                "change_set_id": result.change_set.pk,
                "matched": result.matched,
                "tags_added": result.tags_added,
                "tags_removed": result.tags_removed,
                "unknown_ids": unknown,
                "warnings": result.warnings,
                "preview": None,
            }
        )
