from audit.context import ActionContext, bound_context, client_ip, new_request_id


class RequestContextMiddleware:
    """Gives each request an id (X-Request-ID in and out) and binds who/where for audit rows and logs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        context = ActionContext(
            request_id=new_request_id(request.headers.get("X-Request-ID")),
            ip_address=client_ip(request),
            user_agent=request.headers.get("User-Agent", "")[:500],
            request=request,
        )
        request.request_id = context.request_id
        with bound_context(context):
            response = self.get_response(request)
        response["X-Request-ID"] = context.request_id
        return response
