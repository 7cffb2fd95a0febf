"""Who may subscribe to what, checked against a real Daphne process."""

import json

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.factories import TokenFactory, VideoFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def close_code(url: str) -> int | None:
    with connect(url, open_timeout=10) as socket:
        try:
            first = socket.recv(timeout=10)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
        assert json.loads(first)["event_type"] == "subscribed"
        return None


def test_anonymous_connections_are_closed_with_4401(live_server_process):
    assert close_code(f"ws://{live_server_process}/ws/videos/") == 4401
    assert close_code(f"ws://{live_server_process}/ws/videos/?token=not-a-token") == 4401


def test_another_users_video_is_refused_like_a_missing_one_with_4404(live_server_process):
    video = VideoFactory()
    intruder = TokenFactory()
    assert close_code(f"ws://{live_server_process}/ws/videos/{video.pk}/?token={intruder.key}") == 4404


def test_an_unknown_video_answers_4404(live_server_process):
    token = TokenFactory()
    unknown = "00000000-0000-0000-0000-000000000000"
    assert close_code(f"ws://{live_server_process}/ws/videos/{unknown}/?token={token.key}") == 4404


def test_owner_and_staff_may_subscribe(live_server_process):
    video = VideoFactory()
    owner_token = TokenFactory(user=video.owner)
    staff_token = TokenFactory(user__is_staff=True)
    assert close_code(f"ws://{live_server_process}/ws/videos/{video.pk}/?token={owner_token.key}") is None
    assert close_code(f"ws://{live_server_process}/ws/videos/{video.pk}/?token={staff_token.key}") is None
    assert close_code(f"ws://{live_server_process}/ws/videos/?token={owner_token.key}") is None


def test_a_foreign_browser_origin_is_refused(live_server_process):
    from websockets.exceptions import InvalidStatus

    token = TokenFactory()
    url = f"ws://{live_server_process}/ws/videos/?token={token.key}"
    with pytest.raises(InvalidStatus):
        connect(url, open_timeout=10, origin="http://evil.example")
    with connect(url, open_timeout=10, origin=f"http://{live_server_process}") as socket:
        assert json.loads(socket.recv(timeout=10))["event_type"] == "subscribed"
