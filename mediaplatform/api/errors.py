"""One error body for every API failure: {"error": {"code", "message", "details"}}."""

import logging

from django.core.exceptions import PermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from mediaplatform.service_errors import ServiceError

logger = logging.getLogger("mediaplatform.api")


class ApiError(exceptions.APIException):
    """A business-rule refusal with its own code, raised by views."""

    def __init__(
        self,
        *,
        status_code: int,
        code: str,
        message: str,
        details: dict | None = None,
        retry_after: int | None = None,
    ):
        self.status_code = status_code
        self.error_code = code
        self.error_details = details or {}
        self.wait = retry_after  # DRF's exception handler turns `wait` into the Retry-After header
        super().__init__(detail=message, code=code)


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for field, value in detail.items():
            text = _first_message(value)
            return text if field == "non_field_errors" else f"{field}: {text}"
        return "Invalid request."
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else "Invalid request."
    return str(detail)


API_PATH_PREFIX = "/api/"


def is_api_request(request) -> bool:
    """API clients read the JSON error body; everything else is a page for a person."""
    return getattr(request, "path", "").startswith(API_PATH_PREFIX)


def error_json_response(*, status_code: int, code: str, message: str, details: dict | None = None) -> JsonResponse:
    """The single error body, for answers given outside DRF (Django's error handlers, middleware)."""
    return JsonResponse({"error": {"code": code, "message": message, "details": details or {}}}, status=status_code)


# The database is down, restarting or out of connections: a passing condition, not a bug.
DATABASE_UNAVAILABLE_ERRORS = (OperationalError, InterfaceError)
DATABASE_RETRY_AFTER_SECONDS = 5


def database_unavailable_body() -> dict:
    return {
        "error": {
            "code": "database_unavailable",
            "message": "The database is unavailable; try again shortly.",
            "details": {"retry_after_seconds": DATABASE_RETRY_AFTER_SECONDS},
        }
    }


def log_database_unavailable(request, exc) -> None:
    logger.error(
        "database unavailable %s %s: %s: %s",
        getattr(request, "method", "?"),
        getattr(request, "path", "?"),
        type(exc).__name__,
        exc,
    )


def database_unavailable_response(request, exc) -> JsonResponse:
    """503 with the single error body, for views outside DRF (the middleware uses it)."""
    log_database_unavailable(request, exc)
    return JsonResponse(
        database_unavailable_body(),
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


def api_exception_handler(exc, context):
    if isinstance(exc, DATABASE_UNAVAILABLE_ERRORS):
        log_database_unavailable(context.get("request"), exc)
        return Response(
            database_unavailable_body(),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, ServiceError):
        exc = ApiError(
            status_code=exc.status_code,
            code=exc.code,
            message=exc.message,
            details=exc.details,
            retry_after=exc.retry_after,
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None

    if isinstance(exc, ApiError):
        code, details = exc.error_code, exc.error_details
        message = str(exc.detail)
    elif isinstance(exc, exceptions.ValidationError):
        code, details = "invalid", exc.detail
        message = _first_message(exc.detail)
    else:
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else "error"
        message = _first_message(exc.detail)
        details = {}

    request = context.get("request")
    log = logger.warning if response.status_code < 500 else logger.error
    log(
        "api error %s %s: %s %s",
        getattr(request, "method", "?"),
        getattr(request, "path", "?"),
        response.status_code,
        message,
    )
    headers = {k: v for k, v in response.items() if k in {"Retry-After", "WWW-Authenticate", "Allow"}}
    return Response(
        {"error": {"code": code, "message": message, "details": details}},
        status=response.status_code or status.HTTP_400_BAD_REQUEST,
        headers=headers,
    )
