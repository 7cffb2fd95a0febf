"""HTTP admission control: no more requests in Django at once than the process has database connections.

Django's ASGI handler runs every request in a thread of its own, and each holds a pooled database
connection until its response is closed. A burst of a few hundred requests would otherwise start a few
hundred threads that wait on a pool of ten and fail with PoolTimeout after its timeout. Here a request
whose body has arrived waits, as a cheap coroutine, for one of HTTP_MAX_CONCURRENT_REQUESTS slots; it
only fails, with a 503 and Retry-After, when no slot frees up within HTTP_ADMISSION_TIMEOUT_SECONDS.
Websockets do not pass through here (Channels routes them), and the body of a slow upload is read before
a slot is taken, so a slow client cannot hold one.
"""

import asyncio
import contextvars
import logging
import math

import django
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.http import JsonResponse

logger = logging.getLogger(__name__)

_holds_slot: contextvars.ContextVar[bool] = contextvars.ContextVar("holds_admission_slot", default=False)


class AdmissionTimeout(Exception):
    """No request slot freed up in time."""


class AdmissionControlledASGIHandler(ASGIHandler):
    def __init__(self):
        super().__init__()
        self.slot_count = settings.HTTP_MAX_CONCURRENT_REQUESTS
        self.admission_timeout = settings.HTTP_ADMISSION_TIMEOUT_SECONDS
        self._slots: asyncio.Semaphore | None = None

    @property
    def slots(self) -> asyncio.Semaphore:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.slot_count)
        return self._slots

    async def read_body(self, receive):
        body_file = await super().read_body(receive)
        try:
            await asyncio.wait_for(self.slots.acquire(), timeout=self.admission_timeout)
        except TimeoutError:
            body_file.close()
            raise AdmissionTimeout from None
        _holds_slot.set(True)
        return body_file

    async def handle(self, scope, receive, send):
        token = _holds_slot.set(False)
        try:
            await super().handle(scope, receive, send)
        except AdmissionTimeout:
            logger.error(
                "request %s %s refused: no request slot within %ss",
                scope.get("method"),
                scope.get("path"),
                self.admission_timeout,
            )
            await self.send_response(overloaded_response(retry_after=self.admission_timeout), send)
        finally:
            if _holds_slot.get():
                self.slots.release()
            _holds_slot.reset(token)


def overloaded_response(*, retry_after: float) -> JsonResponse:
    seconds = max(1, math.ceil(retry_after))
    response = JsonResponse(
        {
            "error": {
                "code": "overloaded",
                "message": "The server is busy; try again shortly.",
                "details": {"retry_after_seconds": seconds},
            }
        },
        status=503,
    )
    response["Retry-After"] = str(seconds)
    return response


def get_admission_controlled_asgi_application() -> AdmissionControlledASGIHandler:
    """What django.core.asgi.get_asgi_application() does, with admission control."""
    django.setup(set_prefix=False)
    return AdmissionControlledASGIHandler()
