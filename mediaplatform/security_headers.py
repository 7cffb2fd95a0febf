"""Response headers Django does not set itself: Content-Security-Policy and Permissions-Policy.

Django 5.2 has no built-in CSP, so this middleware renders settings.CONTENT_SECURITY_POLICY (a dict of
directive -> sources) onto every response that does not carry a policy of its own. One source is added
per request, because it depends on the request: `connect-src` gets this host's websocket origin
(ws:// or wss://). CSP Level 3 lets 'self' cover it, but older Safari releases do not, and the
dashboard's live events would silently stop there. No page needs an exception: none runs inline scripts or
applies inline styles, the Swagger UI included (SpectacularSwaggerSplitView serves its start-up script from
a URL of its own, and templates/drf_spectacular/swagger_ui.html moves its <style> block to a static file).
"""

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.utils.deprecation import MiddlewareMixin

CSP_HEADER = "Content-Security-Policy"
CSP_REPORT_ONLY_HEADER = "Content-Security-Policy-Report-Only"


def render_policy(directives: dict[str, list[str]]) -> str:
    return "; ".join(f"{name} {' '.join(sources)}".strip() for name, sources in directives.items())


def policy_for(request) -> str:
    directives = {name: list(sources) for name, sources in settings.CONTENT_SECURITY_POLICY.items()}
    try:
        host = request.get_host()
    except DisallowedHost:
        host = None  # the 400 for a host not in ALLOWED_HOSTS: 'self' alone will do for it
    if host:
        websocket_scheme = "wss" if request.is_secure() else "ws"
        directives.setdefault("connect-src", ["'self'"]).append(f"{websocket_scheme}://{host}")
    return render_policy(directives)


class SecurityHeadersMiddleware(MiddlewareMixin):
    """Sync and async capable (MiddlewareMixin), so Daphne's async request path takes no thread hop here."""

    def process_response(self, request, response):
        if settings.CONTENT_SECURITY_POLICY:
            header = CSP_REPORT_ONLY_HEADER if settings.CONTENT_SECURITY_POLICY_REPORT_ONLY else CSP_HEADER
            if header not in response:
                response[header] = policy_for(request)
        if settings.PERMISSIONS_POLICY and "Permissions-Policy" not in response:
            response["Permissions-Policy"] = settings.PERMISSIONS_POLICY
        return response
