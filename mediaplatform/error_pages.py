"""Django's error handlers (400, 403, 404, 500): the site's own pages for people, the JSON error body for the API.

With DEBUG off Django answers an error it did not expect with these handlers; under /api/ a client gets
{"error": {"code", "message", "details"}} like every other API failure, elsewhere a page in the site's look
(templates/4xx.html, 500.html), served under the same Content-Security-Policy as every page. Django itself logs
each of these responses (the `django.request` logger, with the traceback for a 500).
"""

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template import loader
from django.views import defaults

from mediaplatform.api.errors import error_json_response, is_api_request


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return error_json_response(status_code=400, code="bad_request", message="The request was not understood.")
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return error_json_response(
            status_code=403, code="permission_denied", message="You do not have permission to do this."
        )
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return error_json_response(status_code=404, code="not_found", message="Not found.")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """Rendered without the request's context on purpose: whatever failed (the database, the session) may fail
    again while the page is drawn. Only the request id goes in, so a person can quote it and staff can find the
    logged traceback."""
    request_id = getattr(request, "request_id", "")
    if is_api_request(request):
        return error_json_response(
            status_code=500,
            code="server_error",
            message="The server failed to answer this request; the error has been logged.",
            details={"request_id": request_id} if request_id else {},
        )
    return HttpResponseServerError(loader.render_to_string("500.html", {"request_id": request_id}))
