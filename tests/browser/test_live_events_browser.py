"""The pages' live-events client (static/js/live.js) keeps the README's "Live events" contract.

Playwright stands in for the server's end of the websocket (page.route_web_socket), so a test decides what
arrives, in which order, and when the socket drops or is refused; pages, API and polling are the real server.
Where backoff, polling and pings are timed, the page's clock is paused and moved on by the test.
"""

import json
import re
import uuid
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, WebSocketRoute, expect

from tests.browser.conftest import running_video, sign_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

LIST_POLL = "/api/v1/videos/?per_page=100"


class ScriptedServer:
    """The server's end of every socket the page opens to a URL: what the page sent, and a way to answer.

    While `refusing`, a connection is closed before it opens, as when the server is down.
    """

    def __init__(self, page: Page, url: re.Pattern):
        self.page = page
        self.connections: list[WebSocketRoute] = []
        self.received: list[dict] = []
        self.refusing = False
        page.route_web_socket(url, self._accept)

    def _accept(self, socket: WebSocketRoute) -> None:
        self.connections.append(socket)
        if self.refusing:
            socket.close(code=1011)
            return
        socket.on_message(lambda message: self.received.append(json.loads(message)))

    def send(self, message: dict) -> None:
        self.connections[-1].send(json.dumps(message))

    def send_event(self, video_id, seq: int, event_type="processing_progress", state="processing", data=None, **extra):
        event = {"event_type": event_type, "video_id": str(video_id), "seq": seq, "state": state, "data": data or {}}
        self.send({**event, **extra})

    def messages(self, kind: str) -> list[dict]:
        return [message for message in self.received if message.get("type") == kind]

    def wait_for(self, condition, timeout_ms: int = 10_000) -> None:
        """Lets the page run (and its messages arrive here) until `condition()` holds."""
        for _ in range(timeout_ms // 50):
            if condition():
                return
            self.page.wait_for_timeout(50)
        assert condition(), f"not seen; the page sent {self.received}"


def pause_clock(page: Page) -> None:
    page.clock.pause_at(datetime.now() + timedelta(seconds=1))


def run_clock(page: Page, seconds: int) -> None:
    """Moves the paused clock on a second at a time, letting what each second's timers started finish."""
    for _ in range(seconds):
        page.clock.run_for(1000)
        page.wait_for_timeout(50)


def in_seconds(seconds: int) -> str:
    return (timezone.now() + timedelta(seconds=seconds)).isoformat()


def test_the_dashboard_applies_each_event_once_in_sequence_and_asks_for_what_it_missed(
    page, console_problems, tmp_path
):
    user = UserFactory()
    video = running_video(user, tmp_path)
    seq = video.last_event_seq
    server = ScriptedServer(page, re.compile(r"/ws/videos/$"))
    sign_in(page, user)
    expect(page.locator("#live-status")).to_have_text("live")
    row = page.locator(f'#video-rows tr[data-video-id="{video.pk}"]')

    # On open it resumes from the seq its rows were rendered at.
    server.wait_for(lambda: server.messages("resume"))
    assert server.received[0] == {"type": "resume", "last_seq": {str(video.pk): seq}}
    server.send({"type": "resumed"})

    data = {"progress_percentage": 50, "processing_speed": 12.5, "estimated_completion": in_seconds(130)}
    server.send_event(video.pk, seq + 1, data=data)
    expect(row.locator(".pct")).to_have_text("50%")
    expect(row.locator("progress")).to_have_js_property("value", 50)
    expect(row.locator(".speed")).to_have_text("12.5")
    expect(row.locator(".eta")).to_have_text("2 min")

    # The same event again is dropped (the next one shows that it has been read).
    server.send_event(video.pk, seq + 1, data={"progress_percentage": 99})
    server.send_event(video.pk, seq + 2, data={"objects_detected": 7})
    expect(row.locator(".objects")).to_have_text("7")
    expect(row.locator(".pct")).to_have_text("50%")

    # A gap: nothing is applied, the page asks for a replay from its last seq, once while it is under way.
    server.send_event(video.pk, seq + 5, data={"progress_percentage": 90})
    server.wait_for(lambda: len(server.messages("resume")) == 2)
    assert server.messages("resume")[1] == {"type": "resume", "last_seq": {str(video.pk): seq + 2}}
    server.send_event(video.pk, seq + 6, data={"progress_percentage": 91})
    for missed in (seq + 3, seq + 4):
        server.send_event(video.pk, missed, replayed=True, data={"progress_percentage": 80})
    server.send_event(video.pk, seq + 5, replayed=True, data={"progress_percentage": 90})
    server.send({"type": "resumed"})
    expect(row.locator(".pct")).to_have_text("90%")

    # Coalesced progress ticks may skip seqs; a snapshot stands for everything up to its seq.
    server.send_event(video.pk, seq + 9, coalesced_from_seq=seq + 6, data={"progress_percentage": 95})
    expect(row.locator(".pct")).to_have_text("95%")
    server.send_event(
        video.pk, seq + 30, "snapshot", "completed", data={"title": "Pier at dusk", "progress_percentage": 100}
    )
    expect(row.locator(".badge")).to_have_text("completed")
    expect(row.locator(".name")).to_have_text("Pier at dusk")
    expect(row.locator(".eta")).to_have_text("")

    # A video the page has not seen (an upload in another tab) is followed from its first event.
    fresh = uuid.uuid4()
    server.send_event(fresh, 3, "upload_started", "uploading", data={"title": "Fresh"})
    expect(page.locator("#video-rows tr[data-video-id]").first).to_have_attribute("data-video-id", str(fresh))
    expect(page.locator("#video-rows tr[data-video-id]").first.locator(".badge")).to_have_text("uploading")
    assert len(server.messages("resume")) == 2
    console_problems.assert_none()


def test_the_dashboard_polls_while_the_socket_is_down_and_resumes_when_it_is_back(page, console_problems, tmp_path):
    user = UserFactory()
    video = running_video(user, tmp_path)
    seq = video.last_event_seq
    server = ScriptedServer(page, re.compile(r"/ws/videos/$"))
    polls = []
    page.on("request", lambda request: polls.append(request.url) if request.url.endswith(LIST_POLL) else None)
    page.clock.install()
    sign_in(page, user)
    badge = page.locator("#live-status")
    expect(badge).to_have_text("live")
    server.send_event(video.pk, seq + 1, data={"progress_percentage": 50})
    row = page.locator(f'#video-rows tr[data-video-id="{video.pk}"]')
    expect(row.locator(".pct")).to_have_text("50%")
    pause_clock(page)

    # The server goes away: the page says so, tries again with growing delays, and polls the list meanwhile.
    server.refusing = True
    server.connections[-1].close(code=1011)
    expect(badge).to_have_text("offline: polling")
    run_clock(page, 30)
    attempts = len(server.connections) - 1
    assert 4 <= attempts <= 7, f"{attempts} reconnection attempts in 30 s (backoff 0.5 s doubling, jittered)"
    assert len(polls) >= 5, f"{len(polls)} polls in 30 s"
    # The poll shows the server's state of the video.
    expect(row.locator(".pct")).to_have_text("37%")

    # Back: live again, a replay asked for from the last seq applied, no more polling, pings with positions.
    server.refusing = False
    run_clock(page, 24)  # the longest wait between attempts: 15 s, jittered up to 1.5 times
    expect(badge).to_have_text("live")
    server.wait_for(lambda: len(server.messages("resume")) == 2)
    assert server.messages("resume")[-1] == {"type": "resume", "last_seq": {str(video.pk): seq + 1}}
    polls_when_back = len(polls)
    run_clock(page, 21)
    assert len(polls) == polls_when_back
    server.wait_for(lambda: server.messages("ping"))
    assert server.messages("ping")[-1] == {"type": "ping", "last_seq": {str(video.pk): seq + 1}}
    console_problems.assert_none()


def test_the_video_page_follows_its_video_and_gives_up_when_refused(page, console_problems, tmp_path):
    user = UserFactory()
    video = running_video(user, tmp_path)
    seq = video.last_event_seq
    server = ScriptedServer(page, re.compile(rf"/ws/videos/{video.pk}/"))
    sign_in(page, user)
    page.goto(f"/videos/{video.pk}/")
    badge = page.locator("#live-status")
    expect(badge).to_have_text("live")
    # The page's first look at the API has landed (it would overwrite what the events below show).
    expect(page.locator("#reference-summary")).not_to_have_text("Loading the runs…")
    # The position rides on the URL: the server replays before anything live.
    assert server.connections[0].url.endswith(f"/ws/videos/{video.pk}/?last_seq={seq}")

    data = {"progress_percentage": 50, "frames_processed": 10, "total_frames": 20}
    server.send_event(video.pk, seq + 1, data={**data, "estimated_completion": in_seconds(130)})
    expect(page.locator("#fig-progress")).to_have_text("50%")
    expect(page.get_by_role("progressbar", name="Processing progress")).to_have_js_property("value", 50)
    expect(page.locator("#fig-frames")).to_have_text("10 / 20")
    expect(page.locator("#fig-eta")).to_have_text("2 min")
    # Another video's event is not this page's business.
    server.send_event(uuid.uuid4(), seq + 2, data={"progress_percentage": 99})

    # A gap asks for a replay from the last seq, by number on this socket.
    server.send_event(video.pk, seq + 3, data={"progress_percentage": 70})
    server.wait_for(lambda: server.messages("resume"))
    assert server.messages("resume") == [{"type": "resume", "last_seq": seq + 1}]
    server.send_event(video.pk, seq + 2, replayed=True, data={"progress_percentage": 60})
    server.send_event(video.pk, seq + 3, replayed=True, data={"progress_percentage": 70})
    server.send({"type": "resumed"})
    expect(page.locator("#fig-progress")).to_have_text("70%")

    # A dropped socket is opened again, from the last seq applied.
    server.connections[-1].close(code=1011)
    server.wait_for(lambda: len(server.connections) == 2)
    assert server.connections[1].url.endswith(f"?last_seq={seq + 3}")
    expect(badge).to_have_text("live")

    # Refused (the video was deleted, say): retrying cannot help, so the page stops trying.
    server.connections[-1].close(code=4404)
    expect(badge).to_have_text("offline: polling")
    page.wait_for_timeout(3000)  # the first retry would come within 0.75 s
    assert len(server.connections) == 2
    console_problems.assert_none()
