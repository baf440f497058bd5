"""One error shape for the whole API: {"error": {"code", "message", "fields"?}}."""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.exceptions import PlatformError

logger = logging.getLogger(__name__)


def error_body(code: str, message: str, fields=None) -> dict:
    body = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            inner = _first_message(value)
            return inner if key == "non_field_errors" else f"{key}: {inner}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def suspicious_request_error(exc: SuspiciousOperation) -> tuple[dict, int]:
    """The error body and status for a request Django refused to parse (too big, too many
    fields or files, a malformed multipart body)."""
    if isinstance(exc, RequestDataTooBig):
        return (
            error_body("payload_too_large", "The request body is larger than allowed."),
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        message = f"The request has more than {limit} fields (query string and body together)."
        return error_body("too_many_fields", message), status.HTTP_400_BAD_REQUEST
    if isinstance(exc, TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        return (
            error_body("too_many_files", f"The request has more than {limit} files."),
            status.HTTP_400_BAD_REQUEST,
        )
    return error_body("bad_request", "The request could not be read."), status.HTTP_400_BAD_REQUEST


def api_exception_handler(exc, context):
    """DRF exception handler: maps every error to the stable JSON shape."""
    if isinstance(exc, PlatformError):
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status)
    if isinstance(exc, SuspiciousOperation):
        body, status_code = suspicious_request_error(exc)
        return Response(body, status=status_code)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled API error", exc_info=exc)
        return Response(
            error_body("server_error", "Internal server error."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        message = _first_message(detail) or "Invalid input."
        response.data = error_body("validation_error", message, fields)
        return response
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    if isinstance(detail, dict) and "detail" in detail:
        # simplejwt's token errors: {"detail": ..., "code": ..., "messages": [...]}
        code, detail = str(detail.get("code", "error")), detail["detail"]
    if not isinstance(code, str):
        code = "error"
    response.data = error_body(code, str(detail))
    return response


def json_or_default(default_handler, code, message, status_code):
    """Django error handler: JSON for /api/ paths, the default page elsewhere.

    A request Django itself refused before any view ran (SuspiciousOperation: too many
    fields, ...) reaches the 400 handler with that exception and gets its specific error.
    """

    def handler(request, exception=None, *args, **kwargs):
        if request.path.startswith("/api/"):
            if isinstance(exception, SuspiciousOperation):
                body, refused_status = suspicious_request_error(exception)
                return JsonResponse(body, status=refused_status)
            return JsonResponse(error_body(code, message), status=status_code)
        if exception is None:
            return default_handler(request, *args, **kwargs)
        return default_handler(request, exception, *args, **kwargs)

    return handler
