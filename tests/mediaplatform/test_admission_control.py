"""Admission control in front of Django: requests wait for a slot, and only a long wait ends in a 503."""

import asyncio
import json

import pytest

from mediaplatform.admission import AdmissionControlledASGIHandler
from tests.event_loops import run_in_own_loop

pytestmark = pytest.mark.django_db(transaction=True)


def http_scope(path: str) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


async def call(handler, path: str) -> tuple[int, dict, bytes]:
    messages = [{"type": "http.request", "body": b"", "more_body": False}]
    done = asyncio.Event()

    async def receive():
        if messages:
            return messages.pop(0)
        await done.wait()
        return {"type": "http.disconnect"}

    sent = []

    async def send(message):
        sent.append(message)

    await handler(http_scope(path), receive, send)
    done.set()
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}, body


def handler_with(settings, *, slots: int, timeout: float) -> AdmissionControlledASGIHandler:
    settings.HTTP_MAX_CONCURRENT_REQUESTS = slots
    settings.HTTP_ADMISSION_TIMEOUT_SECONDS = timeout
    return AdmissionControlledASGIHandler()


def test_a_slot_is_given_back_after_every_request(settings):
    handler = handler_with(settings, slots=1, timeout=5)

    async def scenario():
        return [await call(handler, "/health/live") for _ in range(5)]

    assert [status for status, _, _ in run_in_own_loop(scenario())] == [200] * 5
    assert handler.slots._value == 1


def test_waiting_requests_are_served_as_slots_free_up(settings):
    handler = handler_with(settings, slots=2, timeout=30)

    async def scenario():
        return await asyncio.gather(*(call(handler, "/health/live") for _ in range(12)))

    assert [status for status, _, _ in run_in_own_loop(scenario())] == [200] * 12
    assert handler.slots._value == 2


def test_no_free_slot_within_the_timeout_answers_503_with_retry_after(settings):
    handler = handler_with(settings, slots=1, timeout=0.2)

    async def scenario():
        await handler.slots.acquire()  # every slot busy
        refused = await call(handler, "/health/live")
        handler.slots.release()
        served = await call(handler, "/health/live")
        return refused, served

    (status, headers, body), (served_status, _, _) = run_in_own_loop(scenario())
    assert status == 503
    assert headers["retry-after"] == "1"
    assert json.loads(body)["error"]["code"] == "overloaded"
    assert served_status == 200
    assert handler.slots._value == 1
