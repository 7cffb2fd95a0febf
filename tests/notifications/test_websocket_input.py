"""Bad frames on the websocket: refused with an error message and close code 4400, logged, never a crash (1011)."""

import json
import logging

import pytest
from channels.testing import WebsocketCommunicator

# Imported here, not at the first connection: building the ASGI application sets Django up again, which would
# swap out the log handler that caplog put in place.
from mediaplatform.asgi import application
from notifications.consumers import CLOSE_BAD_REQUEST, MAX_JSON_DEPTH, MAX_MESSAGE_CHARS
from tests.event_loops import run_in_own_loop
from tests.factories import TokenFactory
from tests.notifications.helpers import token_protocols

pytestmark = pytest.mark.django_db(transaction=True)


def nested(depth: int) -> str:
    """A ping whose last_seq is `depth` arrays deep."""
    return '{"type": "ping", "last_seq": ' + "[" * depth + "]" * depth + "}"


async def exchange(frames: list[dict], subprotocols: list[str], *, refused: bool = False) -> tuple[list[dict], int]:
    """One answer per frame (JSON); when `refused`, the close code that follows the last answer, else 0."""
    communicator = WebsocketCommunicator(application, "/ws/videos/", subprotocols=subprotocols)
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    assert json.loads((await communicator.receive_output(timeout=10))["text"])["event_type"] == "subscribed"
    try:
        answers = []
        for frame in frames:
            await communicator.send_input({"type": "websocket.receive", **frame})
            message = await communicator.receive_output(timeout=10)
            assert message["type"] == "websocket.send", message
            answers.append(json.loads(message["text"]))
        if not refused:
            return answers, 0
        closed = await communicator.receive_output(timeout=10)
        assert closed["type"] == "websocket.close", closed
        return answers, closed.get("code")
    finally:
        await communicator.disconnect()


@pytest.fixture
def protocols(transactional_db) -> list[str]:
    return token_protocols(TokenFactory())


def was_refused(frame: dict, protocols: list[str]) -> str:
    """The error message a refused frame gets, after checking that the socket then closes with 4400."""
    (answer,), code = run_in_own_loop(exchange([frame], protocols, refused=True))
    assert (answer["type"], code) == ("error", CLOSE_BAD_REQUEST)
    return answer["error"]


def warned(caplog) -> bool:
    return any("websocket frame refused" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000], ids=["just-too-deep", "past-the-parsers-recursion"])
def test_deeply_nested_json_gets_an_error_and_4400(protocols, depth, caplog):
    caplog.set_level(logging.WARNING, logger="notifications.consumers")
    assert f"deeper than {MAX_JSON_DEPTH} levels" in was_refused({"text": nested(depth)}, protocols)
    assert warned(caplog)


def test_json_as_deep_as_allowed_is_read(protocols):
    deep_but_allowed = '{"type": "ping", "x": ' + "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1) + "}"
    assert run_in_own_loop(exchange([{"text": deep_but_allowed}], protocols)) == ([{"type": "pong"}], 0)


def test_an_oversize_frame_gets_an_error_and_4400(protocols, caplog):
    caplog.set_level(logging.WARNING, logger="notifications.consumers")
    oversize = json.dumps({"type": "ping", "padding": "x" * MAX_MESSAGE_CHARS})
    assert f"limited to {MAX_MESSAGE_CHARS} characters" in was_refused({"text": oversize}, protocols)
    assert warned(caplog)


def test_a_binary_frame_gets_an_error_and_4400(protocols):
    assert "JSON text frames" in was_refused({"bytes": b'{"type": "ping"}'}, protocols)


def test_malformed_json_and_an_empty_frame_only_get_an_error_and_the_socket_stays(protocols):
    frames = [{"text": "{not json"}, {"text": ""}, {"text": '{"type": "ping"}'}]
    answers, _ = run_in_own_loop(exchange(frames, protocols))
    assert [answer["type"] for answer in answers] == ["error", "error", "pong"]
