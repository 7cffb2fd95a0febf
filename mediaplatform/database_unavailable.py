"""503 instead of 500 while the database is unreachable, for the views outside DRF.

DRF views get the same answer from the API's exception handler; this middleware
covers Django views (dashboard, admin, exports served by plain views): the API
paths answer the single JSON error body, pages a short plain-text notice. Once
the database answers again the connection pool reconnects and nothing else is needed.
"""

from django.http import HttpResponse

from mediaplatform.api.errors import (
    DATABASE_RETRY_AFTER_SECONDS,
    DATABASE_UNAVAILABLE_ERRORS,
    database_unavailable_response,
    log_database_unavailable,
)


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DATABASE_UNAVAILABLE_ERRORS):
            return None
        if request.path.startswith("/api/"):
            return database_unavailable_response(request, exception)
        log_database_unavailable(request, exception)
        return HttpResponse(
            "The service is briefly unavailable (database). Try again in a few seconds.\n",
            status=503,
            content_type="text/plain; charset=utf-8",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
