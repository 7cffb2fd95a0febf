"""Resume, snapshot and keepalive against a real Daphne process and real websocket clients."""

import json
from datetime import timedelta

import pytest
from websockets.sync.client import connect

from notifications.models import OutboxEvent
from notifications.services.delivery import outbox_purge
from tests.factories import TokenFactory, VideoFactory
from tests.notifications.helpers import emit, recv_json, recv_until, token_protocols
from videos.services.transitions import video_transition

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def is_type(kind: str):
    return lambda message: message.get("type") == kind


def seqs(messages: list[dict]) -> list[int]:
    return [m["seq"] for m in messages if "seq" in m]


@pytest.fixture
def owned_video():
    video = VideoFactory(workflow_state="processing")
    return video, TokenFactory(user=video.owner)


def test_resume_after_disconnect_gets_exactly_the_missed_events(live_server_process, owned_video):
    video, token = owned_video
    url = f"ws://{live_server_process}/ws/videos/{video.pk}/"
    with connect(url, open_timeout=10, subprotocols=token_protocols(token)) as socket:
        assert recv_json(socket)["event_type"] == "subscribed"
        emit(video.pk, progress_percentage=10)
        emit(video.pk, progress_percentage=20)
        assert seqs([recv_json(socket), recv_json(socket)]) == [1, 2]

    # Missed while away: a tick, a state change, another state change.
    emit(video.pk, progress_percentage=30)
    video_transition(video_id=video.pk, transition_name="fail", reason="decoder", event_type="processing_failed")
    video_transition(video_id=video.pk, transition_name="start_validation", event_type="processing_started")

    with connect(f"{url}?last_seq=2", open_timeout=10, subprotocols=token_protocols(token)) as socket:
        assert recv_json(socket)["event_type"] == "subscribed"
        replayed = recv_until(socket, is_type("resumed"))
        assert seqs(replayed) == [3, 4, 5]
        assert [m["event_type"] for m in replayed[:3]] == [
            "processing_progress",
            "processing_failed",
            "processing_started",
        ]
        assert all(m["replayed"] for m in replayed[:3])
        assert replayed[-1] == {"type": "resumed", "replayed": 3}
        # And live delivery goes on after the replay.
        emit(video.pk, progress_percentage=40)
        live = recv_json(socket)
        assert (live["seq"], live.get("replayed")) == (6, None)


def test_the_all_videos_socket_resumes_a_map_of_videos_and_skips_foreign_ones(live_server_process, owned_video):
    video, token = owned_video
    second = VideoFactory(owner=video.owner, workflow_state="processing")
    foreign = VideoFactory(workflow_state="processing")
    for target in (video, video, second, foreign):
        emit(target.pk, progress_percentage=50)

    url = f"ws://{live_server_process}/ws/videos/"
    with connect(url, open_timeout=10, subprotocols=token_protocols(token)) as socket:
        assert recv_json(socket)["event_type"] == "subscribed"
        socket.send(
            json.dumps({"type": "resume", "last_seq": {str(video.pk): 1, str(second.pk): 0, str(foreign.pk): 0}})
        )
        replayed = recv_until(socket, is_type("resumed"))

    assert sorted((m["video_id"], m["seq"]) for m in replayed if "seq" in m) == sorted(
        [(str(video.pk), 2), (str(second.pk), 1)]
    )


def test_a_client_behind_purged_events_gets_a_snapshot_of_the_current_state(live_server_process, owned_video):
    video, token = owned_video
    emit(video.pk, progress_percentage=10)
    emit(video.pk, progress_percentage=42.5)
    video_transition(video_id=video.pk, transition_name="fail", reason="decoder", event_type="processing_failed")
    outbox_purge(older_than=timedelta(0))
    assert not OutboxEvent.objects.filter(video=video).exists()

    url = f"ws://{live_server_process}/ws/videos/{video.pk}/?last_seq=1"
    with connect(url, open_timeout=10, subprotocols=token_protocols(token)) as socket:
        assert recv_json(socket)["event_type"] == "subscribed"
        snapshot, resumed = recv_until(socket, is_type("resumed"))

    assert snapshot["event_type"] == "snapshot"
    assert (snapshot["seq"], snapshot["state"], snapshot["video_id"]) == (3, "failed", str(video.pk))
    assert snapshot["data"]["error_message"] == "decoder"
    assert resumed["replayed"] == 1


def test_ping_is_answered_and_may_carry_last_seq_to_catch_up(live_server_process, owned_video):
    video, token = owned_video
    emit(video.pk, progress_percentage=10)
    emit(video.pk, progress_percentage=20)
    url = f"ws://{live_server_process}/ws/videos/{video.pk}/"
    with connect(url, open_timeout=10, subprotocols=token_protocols(token)) as socket:
        assert recv_json(socket)["event_type"] == "subscribed"
        socket.send(json.dumps({"type": "ping"}))
        assert recv_json(socket) == {"type": "pong"}
        socket.send(json.dumps({"type": "ping", "last_seq": 1}))
        caught_up = recv_until(socket, is_type("pong"))
        assert seqs(caught_up) == [2]
        socket.send(json.dumps({"type": "resume", "last_seq": "not a number"}))
        assert recv_json(socket)["type"] == "error"
        socket.send("not json")
        assert recv_json(socket)["type"] == "error"
