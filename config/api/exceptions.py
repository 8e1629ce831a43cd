"""The single place where errors become the API's error format (drf-standardized-errors)."""

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_standardized_errors.handler import ExceptionHandler
from rest_framework import exceptions, status
from rest_framework.serializers import as_serializer_error

from config.exceptions import DomainError


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body is larger than the server accepts."
    default_code = "request_too_large"


class ApiError(exceptions.APIException):
    """A DomainError carried through DRF with its own status code."""

    def __init__(self, exc: DomainError):
        self.status_code = exc.status_code
        super().__init__(detail=exc.message, code=exc.code)
        self.attr = exc.attr


class ApiExceptionHandler(ExceptionHandler):
    def convert_known_exceptions(self, exc: Exception) -> Exception:
        if isinstance(exc, RequestDataTooBig):
            return RequestTooLarge()
        if isinstance(exc, DomainError):
            if exc.status_code == 400 and exc.attr:
                # A field's error renders as a validation error naming the field.
                return exceptions.ValidationError(
                    {exc.attr: [exceptions.ErrorDetail(exc.message, exc.code)]}
                )
            return ApiError(exc)
        if isinstance(exc, DjangoValidationError):
            return exceptions.ValidationError(as_serializer_error(exc))
        return super().convert_known_exceptions(exc)

    def format_exception(self, exc: exceptions.APIException) -> dict:
        data = super().format_exception(exc)
        attr = getattr(exc, "attr", None)
        if attr and isinstance(exc, ApiError):
            for error in data["errors"]:
                error["attr"] = attr
        return data
