"""Listening on the real channel layer, emitting events, and a websocket client that keeps the contract."""

import json
import time
from dataclasses import dataclass, field
from typing import Any

from channels.layers import get_channel_layer
from django.db import transaction
from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

from notifications.services.events import event_emit
from notifications.services.layer_loop import run_on_layer_loop
from videos.services.transitions import video_lock

TERMINAL = {"processing_completed", "processing_failed"}


def listen(group: str) -> str:
    """A fresh channel in the group, on the loop that delivery sends from (layers keep state per loop)."""

    async def join() -> str:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        return channel

    return run_on_layer_loop(join(), timeout=10)


def receive(channel: str, count: int = 1, timeout: float = 30) -> list[dict]:
    layer = get_channel_layer()

    async def read() -> list[dict]:
        return [await layer.receive(channel) for _ in range(count)]

    return run_on_layer_loop(read(), timeout=timeout)


def emit(video_id, event_type: str = "processing_progress", **data: Any) -> int:
    """Emit one event in its own transaction, as the pipeline does; returns its seq."""
    with transaction.atomic():
        video = video_lock(video_id=video_id)
        return event_emit(video=video, event_type=event_type, data=data).seq


def recv_json(socket, timeout: float = 30) -> dict:
    return json.loads(socket.recv(timeout=timeout))


def recv_until(socket, predicate, timeout: float = 30) -> list[dict]:
    """Messages up to and including the first that matches."""
    received = []
    deadline = time.monotonic() + timeout
    while True:
        message = recv_json(socket, timeout=max(deadline - time.monotonic(), 0.01))
        received.append(message)
        if predicate(message):
            return received


@dataclass
class FollowingClient:
    """Follows one video as the dashboard does: de-duplicates by seq, accepts announced
    coalescing gaps, resumes on any other gap, on reconnect and when idle."""

    url: str
    subprotocols: list[str] | None = None  # the credential, e.g. token_protocols(token): never in the URL
    idle_resume_seconds: float = 1.0
    last_seq: int = 0
    events: list[dict] = field(default_factory=list)
    reconnects: int = 0
    resumes_for_gaps: int = 0

    def _accepts(self, event: dict) -> bool:
        seq = event["seq"]
        if event.get("event_type") == "snapshot":
            return seq >= self.last_seq
        coalesced_from = event.get("coalesced_from_seq")
        return seq == self.last_seq + 1 or (coalesced_from is not None and coalesced_from <= self.last_seq + 1)

    def follow_until_terminal(self, *, timeout: float = 240) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                separator = "&" if "?" in self.url else "?"
                url = f"{self.url}{separator}last_seq={self.last_seq}"
                with connect(url, open_timeout=10, subprotocols=self.subprotocols) as socket:
                    if self._follow(socket, deadline):
                        return self.events
            except (WebSocketException, OSError):
                pass  # dropped, or refused while the server's Redis connections recover: try again
            self.reconnects += 1
            time.sleep(0.2)
        raise AssertionError(f"no terminal event within {timeout}s; got {[e['event_type'] for e in self.events]}")

    def _follow(self, socket, deadline: float) -> bool:
        while time.monotonic() < deadline:
            try:
                message = json.loads(socket.recv(timeout=self.idle_resume_seconds))
            except TimeoutError:
                # Quiet for a while: a lost last event would never show as a gap.
                socket.send(json.dumps({"type": "ping", "last_seq": self.last_seq}))
                continue
            if "seq" not in message or message["seq"] <= self.last_seq:
                continue
            if not self._accepts(message):
                self.resumes_for_gaps += 1
                socket.send(json.dumps({"type": "resume", "last_seq": self.last_seq}))
                continue
            self.events.append(message)
            self.last_seq = message["seq"]
            if message["event_type"] in TERMINAL:
                return True
        return False


def token_protocols(token) -> list[str]:
    """Sec-WebSocket-Protocol entries that authenticate a socket with an API token (never in the URL)."""
    return ["mediaplatform", f"token.{token.key}"]
