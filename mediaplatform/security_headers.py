"""Response headers Django does not set itself: Content-Security-Policy (django-csp) and Permissions-Policy.

django-csp renders settings.CONTENT_SECURITY_POLICY (or ..._REPORT_ONLY) onto every response that does not
carry a policy of its own. One source is added per request, because it depends on the request: `connect-src`
gets this host's websocket origin (ws:// or wss://). CSP Level 3 lets 'self' cover it, but older Safari
releases do not, and the dashboard's live events would silently stop there. No page needs an exception: none
runs inline scripts or applies inline styles, the Swagger UI included (SpectacularSwaggerSplitView serves its
start-up script from a URL of its own, and templates/drf_spectacular/swagger_ui.html moves its <style> block to
a static file).
"""

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.utils.deprecation import MiddlewareMixin


def websocket_origin(request) -> str | None:
    try:
        host = request.get_host()
    except DisallowedHost:
        return None  # the 400 for a host not in ALLOWED_HOSTS: 'self' alone will do for it
    return f"{'wss' if request.is_secure() else 'ws'}://{host}"


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with the request's websocket origin added to connect-src."""

    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only=report_only)
        origin = websocket_origin(request)
        if origin:
            parts.update = {**(parts.update or {}), "connect-src": [origin]}
        return parts


class PermissionsPolicyMiddleware(MiddlewareMixin):
    """Sync and async capable (MiddlewareMixin), so Daphne's async request path takes no thread hop here."""

    def process_response(self, request, response):
        if settings.PERMISSIONS_POLICY and "Permissions-Policy" not in response:
            response["Permissions-Policy"] = settings.PERMISSIONS_POLICY
        return response
