"""The one shape of a refusal: services raise it, the API's exception handler answers it.

A service that will not do what it was asked raises a `ServiceError` (or a subclass that names
the kind of refusal): a stable machine code, a message written for the person who asked, the
HTTP status that says it, and details a client can act on. The API turns every one into the
single error body (`mediaplatform.api.errors`), so no view translates refusals itself.
"""

from typing import Any


class ServiceError(Exception):
    default_code = "invalid"
    default_status_code = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.status_code = status_code or self.default_status_code
        self.details = details or {}
        self.retry_after = retry_after
