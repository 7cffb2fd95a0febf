"""Who may subscribe to what, and with which credentials, checked against the real web front (nginx, Daphne)."""

import json

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.factories import TokenFactory, VideoFactory
from tests.notifications.helpers import token_protocols

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def close_code(url: str, subprotocols: list[str] | None = None) -> int | None:
    with connect(url, open_timeout=10, subprotocols=subprotocols) as socket:
        try:
            first = socket.recv(timeout=10)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
        assert json.loads(first)["event_type"] == "subscribed"
        return None


def test_anonymous_connections_are_closed_with_4401(live_server_process):
    assert close_code(f"ws://{live_server_process}/ws/videos/") == 4401
    assert close_code(f"ws://{live_server_process}/ws/videos/", ["mediaplatform", "token.not-a-token"]) == 4401
    assert close_code(f"ws://{live_server_process}/ws/videos/?ticket=not-a-ticket") == 4401


def test_another_users_video_is_refused_like_a_missing_one_with_4404(live_server_process):
    video = VideoFactory()
    intruder = TokenFactory()
    assert close_code(f"ws://{live_server_process}/ws/videos/{video.pk}/", token_protocols(intruder)) == 4404


def test_an_unknown_video_answers_4404(live_server_process):
    token = TokenFactory()
    unknown = "00000000-0000-0000-0000-000000000000"
    assert close_code(f"ws://{live_server_process}/ws/videos/{unknown}/", token_protocols(token)) == 4404


def test_owner_and_staff_may_subscribe(live_server_process):
    video = VideoFactory()
    owner_token = TokenFactory(user=video.owner)
    staff_token = TokenFactory(user__is_staff=True)
    assert close_code(f"ws://{live_server_process}/ws/videos/{video.pk}/", token_protocols(owner_token)) is None
    assert close_code(f"ws://{live_server_process}/ws/videos/{video.pk}/", token_protocols(staff_token)) is None
    assert close_code(f"ws://{live_server_process}/ws/videos/", token_protocols(owner_token)) is None


def test_the_server_selects_the_mediaplatform_protocol(live_server_process):
    """Browsers drop a socket whose server selects none of the protocols they offered."""
    token = TokenFactory()
    with connect(f"ws://{live_server_process}/ws/videos/", open_timeout=10, subprotocols=token_protocols(token)) as ws:
        assert ws.subprotocol == "mediaplatform"
        assert json.loads(ws.recv(timeout=10))["event_type"] == "subscribed"


def test_a_token_in_the_url_is_refused_with_4400_and_a_message_even_when_valid(live_server_process):
    token = TokenFactory()
    with connect(f"ws://{live_server_process}/ws/videos/?token={token.key}", open_timeout=10) as socket:
        error = json.loads(socket.recv(timeout=10))
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
    assert error["type"] == "error" and "ws-ticket" in error["error"]
    assert closed.value.rcvd.code == 4400


def test_a_ticket_opens_one_socket_through_the_web_front(live_server_process):
    token = TokenFactory()
    response = requests.post(
        f"http://{live_server_process}/api/v1/ws-ticket/", headers={"Authorization": f"Token {token.key}"}, timeout=30
    )
    assert response.status_code == 201, response.text
    url = f"ws://{live_server_process}/ws/videos/?ticket={response.json()['ticket']}"
    assert close_code(url) is None
    assert close_code(url) == 4401, "a ticket is spent by its first use"


def test_deactivating_the_user_closes_their_socket_on_the_server(live_server_process):
    """The change is made in this process; the socket lives in Daphne: the channel layer carries the news."""
    token = TokenFactory()
    with connect(f"ws://{live_server_process}/ws/videos/", open_timeout=10, subprotocols=token_protocols(token)) as ws:
        assert json.loads(ws.recv(timeout=10))["event_type"] == "subscribed"
        token.user.is_active = False
        token.user.save()
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd.code == 4401


def test_a_foreign_browser_origin_is_refused(live_server_process):
    from websockets.exceptions import InvalidStatus

    token = TokenFactory()
    url = f"ws://{live_server_process}/ws/videos/"
    with pytest.raises(InvalidStatus):
        connect(url, open_timeout=10, origin="http://evil.example", subprotocols=token_protocols(token))
    with connect(
        url, open_timeout=10, origin=f"http://{live_server_process}", subprotocols=token_protocols(token)
    ) as socket:
        assert json.loads(socket.recv(timeout=10))["event_type"] == "subscribed"
