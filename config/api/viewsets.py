"""The API conventions, implemented once: envelopes, identify_by, includes, ETags, safe input."""

from collections.abc import Callable

from django.db.models import Model
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ErrorDetail, NotFound, ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.response import Response

from config.api import idempotency
from config.api.fields import UNIX_MS_HEADER
from config.api.filters import query_list, query_value_errors
from config.api.pagination import MAX_LIMIT, CursorPagination
from config.api.parsers import refuse_unstorable
from config.api.serializers import UNKNOWN_FIELD, DestroyRequestSerializer
from config.api.throttling import rate_limit_headers
from config.concurrency import etag_for, parse_if_match
from config.exceptions import PermissionDenied
from config.fields import parse_ulid


def lookup_by_id(value: str) -> dict | None:
    ulid = parse_ulid(value)
    return {"id": ulid} if ulid else None


def lookup_by_field(field: str, normalise: Callable[[str], str | None] = str) -> Callable:
    def lookup(value: str) -> dict | None:
        normalised = normalise(value)
        return {field: normalised} if normalised else None

    return lookup


def sublist_schema(component: str, envelope: str, item_serializer) -> dict:
    """``extend_schema`` arguments of an action answering a cursor page of ``item_serializer``."""
    from drf_spectacular.utils import OpenApiParameter, inline_serializer
    from rest_framework import serializers

    return {
        "responses": {
            200: inline_serializer(
                component,
                {
                    envelope: item_serializer(many=True),
                    "next": serializers.URLField(allow_null=True),
                    "previous": serializers.URLField(allow_null=True),
                },
            )
        },
        "parameters": [
            OpenApiParameter(
                "cursor",
                {"type": "string", "maxLength": 1000},
                description="The `next` or `previous` link's cursor.",
            ),
            OpenApiParameter(
                "limit",
                {"type": "integer", "format": "int32", "minimum": 1, "maximum": MAX_LIMIT},
                description=f"Items per page, 1–{MAX_LIMIT} (default 50).",
            ),
        ],
        "filters": False,
    }


MAX_IDENTIFIER_LENGTH = 254
# Query parameters every list takes besides its filters.
LIST_PARAMETERS = frozenset({"cursor", "limit", "ordering", "includes", "format", "identify_by"})


class ApiViewMixin:
    """Conventions every API view follows; subclasses declare, they do not re-implement."""

    envelope: str = "result"
    envelope_plural: str = "results"
    identify_by: dict[str, Callable[[str], dict | None]] = {"id": lookup_by_id}
    includes_choices: tuple[str, ...] = ()
    # Includes that show another resource's data need its view permission (else 403).
    include_permissions: dict[str, str] = {}
    action_permissions: dict[str, list[str]] = {}
    # Actions (by name) that can answer 409, for the schema.
    conflict_actions: tuple[str, ...] = ()
    use_etags: bool = False
    # Set by the router on {id} routes: list-level paths of the prefix, never an {id}.
    reserved_ids: tuple[str, ...] = ()
    ordering = ("id",)
    ordering_fields = ("id",)
    lookup_field = "id"
    lookup_url_kwarg = "id"

    @property
    def paginator(self):
        paginator = super().paginator
        if paginator is not None:
            paginator.envelope = self.envelope_plural
        return paginator

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # The body is checked by the parser (config.api.parsers) with the same rule.
        refuse_unstorable(
            [
                *((name, str(value)) for name, value in kwargs.items()),
                *(
                    (key, value)
                    for key in request.query_params
                    for value in request.query_params.getlist(key)
                ),
            ]
        )
        if self.includes_choices or "includes" in request.query_params:
            # junk or a forbidden include is a 400/403 on every route, before any work
            self.get_includes()
        self.refuse_unknown_list_parameters()
        for key in request.query_params:
            if errors := query_value_errors(key, request.query_params.getlist(key)):
                raise ValidationError({key: errors})
        datetime_format = request.headers.get(UNIX_MS_HEADER)
        if datetime_format is not None and datetime_format.lower() not in {"iso", "unix_ms"}:
            raise ValidationError(
                {UNIX_MS_HEADER: [ErrorDetail("Must be 'iso' or 'unix_ms'.", "invalid")]}
            )
        self._idempotency = idempotency.begin(request)

    def refuse_unknown_list_parameters(self) -> None:
        """On a list, a query parameter that is neither a filter nor a paging/format parameter
        is a 400 naming it: ``?tag=vip`` (for ``tags``) must not quietly list everyone."""
        if getattr(self, "action", None) != "list":
            return
        filterset_class = getattr(self, "filterset_class", None)
        allowed = set(filterset_class.base_filters) if filterset_class else set()
        allowed |= LIST_PARAMETERS
        if not any(issubclass(backend, OrderingFilter) for backend in self.filter_backends):
            allowed.discard("ordering")  # a list in one fixed order (the change feed)
        if unknown := sorted(set(self.request.query_params) - allowed):
            detail = f"Unknown query parameter. Allowed: {', '.join(sorted(allowed))}."
            raise ValidationError({key: [ErrorDetail(detail, UNKNOWN_FIELD)] for key in unknown})

    def handle_exception(self, exc):
        if isinstance(exc, idempotency.Replay):
            return exc.response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        for header, value in rate_limit_headers(request).items():
            response[header] = value
        if claim := getattr(self, "_idempotency", None):
            self._idempotency = None
            idempotency.finish(claim, response)
        return response

    def get_includes(self) -> set[str]:
        requested = set(query_list(self.request.query_params, "includes"))
        if unknown := requested - set(self.includes_choices):
            allowed = ", ".join(self.includes_choices) or "none"
            message = f"Unknown include(s): {', '.join(sorted(unknown))}. Allowed: {allowed}."
            raise ValidationError({"includes": [ErrorDetail(message, "invalid")]})
        user = self.request.user
        if forbidden := sorted(
            f"{include} (needs {self.include_permissions[include]})"
            for include in requested
            if include in self.include_permissions
            and not user.has_perm(self.include_permissions[include])
        ):
            raise PermissionDenied(f"You may not include: {', '.join(forbidden)}.", attr="includes")
        return requested

    def get_serializer_context(self) -> dict:
        context = super().get_serializer_context()
        if getattr(self, "request", None) is not None and self.includes_choices:
            context["includes"] = self.get_includes()
        return context

    def get_lookup(self) -> dict:
        """Translate ``{id}`` + ``?identify_by=`` into queryset filter kwargs (404 if malformed)."""
        if "id" not in self.kwargs:
            raise NotFound()  # a list-level route (e.g. OPTIONS asking about PUT) has no object
        identify_by = self.request.query_params.get("identify_by", "id")
        if identify_by not in self.identify_by:
            raise ValidationError(
                {
                    "identify_by": [
                        ErrorDetail(f"Must be one of: {', '.join(self.identify_by)}.", "invalid")
                    ]
                }
            )
        raw = self.kwargs["id"]
        # No identifier column is longer than 254 (email): a longer one cannot match.
        lookup = self.identify_by[identify_by](raw) if len(raw) <= MAX_IDENTIFIER_LENGTH else None
        if lookup is None:
            raise NotFound()
        return lookup

    def get_object(self) -> Model:
        obj = self.find_object(self.get_lookup())
        if obj is None:
            raise NotFound()
        self.check_object_permissions(self.request, obj)
        return obj

    def find_object(self, lookup: dict) -> Model | None:
        """The object ``{id}`` names (``lookup``: ``get_lookup()``'s filter), or None; an
        action may read it through a selector of its own instead of ``get_queryset()``."""
        return self.get_queryset().filter(**lookup).first()

    def paginated_response(
        self, queryset, serializer_class, *, envelope: str, ordering: str = "id", transform=None
    ) -> Response:
        """A cursor page of ``queryset`` under ``envelope`` (for sub-lists such as history)."""
        paginator = CursorPagination()
        paginator.envelope = envelope
        paginator.ordering = ordering
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        items = transform(page) if transform else page
        context = self.get_serializer_context()
        return paginator.get_paginated_response(
            serializer_class(items, many=True, context=context).data
        )

    def get_if_match(self) -> list[str] | None:
        return parse_if_match(self.request.headers.get("If-Match")) if self.use_etags else None

    def enveloped(self, instance: Model, status_code: int = status.HTTP_200_OK) -> Response:
        serializer = self.get_serializer(instance)
        headers = {"ETag": etag_for(instance)} if self.use_etags else {}
        return Response({self.envelope: serializer.data}, status=status_code, headers=headers)


class ApiModelViewSet(
    ApiViewMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """CRUD where every write goes through the app's services.

    Subclasses implement ``perform_create(serializer)``, ``perform_update(serializer)`` and
    ``perform_destroy(instance)`` by calling a service; each returns the resulting instance
    (``perform_destroy`` returns ``None`` when the object is gone for good → 204).
    """

    def retrieve(self, request, *args, **kwargs) -> Response:
        return self.enveloped(self.get_object())

    def create(self, request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        instance = self.perform_create(serializer)
        return self.enveloped(instance, status.HTTP_201_CREATED)

    def update(self, request, *args, partial: bool = False, **kwargs) -> Response:
        instance = self.get_object()
        serializer = self.get_serializer(instance, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return self.enveloped(self.perform_update(serializer))

    def partial_update(self, request, *args, **kwargs) -> Response:
        return self.update(request, *args, partial=True, **kwargs)

    def destroy(self, request, *args, **kwargs) -> Response:
        instance = self.get_object()
        if request.data:
            # The only body a DELETE takes is the reason, checked like any other body.
            DestroyRequestSerializer(data=request.data).is_valid(raise_exception=True)
        result = self.perform_destroy(instance)
        if result is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return self.enveloped(result)

    def get_reason(self, serializer=None) -> str:
        source = serializer.validated_data if serializer is not None else self.request.data
        reason = source.get("reason", "") if hasattr(source, "get") else ""
        return reason if isinstance(reason, str) else ""
