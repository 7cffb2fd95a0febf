"""One error body for every API failure: {"error": {"code", "message", "details"}}."""

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger("mediaplatform.api")


class ApiError(exceptions.APIException):
    """A business-rule refusal with its own code, raised by views."""

    def __init__(self, *, status_code: int, code: str, message: str, details: dict | None = None):
        self.status_code = status_code
        self.error_code = code
        self.error_details = details or {}
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


def api_exception_handler(exc, context):
    if isinstance(exc, Http404):
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
