"""Redis restarts while a video is processed: the client still ends with every state change."""

import threading

import pytest
import requests

from notifications.models import EventType, OutboxEvent
from tests.factories import TokenFactory
from tests.notifications.helpers import FollowingClient, token_protocols
from tests.videofiles import write_test_video
from videos.models import VideoStateTransition

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def collapse(states: list[str]) -> list[str]:
    return [state for index, state in enumerate(states) if index == 0 or states[index - 1] != state]


def test_a_client_following_through_a_redis_restart_misses_no_state_change(private_stack, tmp_path):
    token = TokenFactory()
    clip = write_test_video(tmp_path / "long.mp4", seconds=20, fps=10)
    with clip.open("rb") as handle:
        response = requests.post(
            f"http://{private_stack.server}/api/v1/videos/",
            headers={"Authorization": f"Token {token.key}"},
            files={"file": ("long.mp4", handle, "video/mp4")},
            data={"title": "Long", "frame_step": "1"},
            timeout=30,
        )
    assert response.status_code == 201, response.text
    video_id = response.json()["id"]

    restarted = threading.Event()

    class RestartingClient(FollowingClient):
        def _accepts(self, event: dict) -> bool:
            accepted = super()._accepts(event)
            if accepted and not restarted.is_set() and event.get("data", {}).get("frames_processed"):
                private_stack.redis.restart()  # mid-inference: the pipeline keeps emitting meanwhile
                restarted.set()
            return accepted

    client = RestartingClient(
        url=f"ws://{private_stack.server}/ws/videos/{video_id}/", subprotocols=token_protocols(token)
    )
    events = client.follow_until_terminal(timeout=240)

    assert restarted.is_set(), "Redis was restarted while the video was processed"
    received = [e["seq"] for e in events]
    assert received == sorted(set(received)), "in order, without duplicates"
    stored = dict(OutboxEvent.objects.filter(video_id=video_id).values_list("seq", "event_type"))
    state_changes = [seq for seq, kind in sorted(stored.items()) if kind != EventType.PROCESSING_PROGRESS]
    assert set(state_changes) <= set(received), "every state change reached the client"
    assert events[-1]["event_type"] == "processing_completed" and events[-1]["seq"] == max(stored)
    history = list(
        VideoStateTransition.objects.filter(video_id=video_id).order_by("created_at").values_list("to_state", flat=True)
    )
    # A transition may be reported by a progress-typed event; the states seen, in order, must match the history.
    assert collapse([e["state"] for e in events]) == collapse(history)
