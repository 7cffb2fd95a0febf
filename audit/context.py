"""Who is acting, from where, under which request id: carried in a context variable.

The middleware binds it per HTTP request; Celery tasks bind it from the
request id their message carries, so audit rows and logs written deep in a
service know the request that caused them.
"""

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field

_REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


@dataclass(frozen=True)
class ActionContext:
    request_id: str
    ip_address: str | None = None
    user_agent: str = ""
    request: object | None = field(default=None, compare=False)  # the HttpRequest, read lazily for its user


_current: ContextVar[ActionContext | None] = ContextVar("mediaplatform_action_context", default=None)


def current_context() -> ActionContext | None:
    return _current.get()


def current_request_id() -> str:
    context = _current.get()
    return context.request_id if context else ""


def new_request_id(proposed: str | None = None) -> str:
    """The caller's X-Request-ID when it is sane, else a fresh one."""
    if proposed and _REQUEST_ID_PATTERN.match(proposed):
        return proposed
    return uuid.uuid4().hex


def context_bind(context: ActionContext) -> Token:
    """Make `context` current; hand the token to `context_reset` when the work is done."""
    return _current.set(context)


def context_reset(token: Token) -> None:
    _current.reset(token)


@contextmanager
def bound_context(context: ActionContext) -> Iterator[ActionContext]:
    token = context_bind(context)
    try:
        yield context
    finally:
        context_reset(token)


def client_ip(request) -> str | None:
    # Only the socket's peer is trusted. Behind the platform's own front, mediaplatform.wsgi has set it from the
    # header nginx overwrites; any other proxy in front must overwrite REMOTE_ADDR the same way.
    return request.META.get("REMOTE_ADDR") or None
