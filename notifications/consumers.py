"""Websocket consumer pushing video events to the browser and API clients.

Contract (see README, "Live events"):
- On connect the server sends `{"event_type": "subscribed", "video_id": ...}`.
- Every event carries the video's gap-free `seq`. Clients remember the last
  seq per video and de-duplicate: drop any event whose seq they already have.
- Resume: `?last_seq=N` on `/ws/videos/<id>/`, or the message
  `{"type": "resume", "last_seq": N}` (per-video socket) or
  `{"type": "resume", "last_seq": {"<video_id>": N, ...}}` (either socket)
  replays every stored event after N (marked `"replayed": true`), or sends one
  `{"event_type": "snapshot", "seq": <current>, ...}` when they are gone or too
  many; then `{"type": "resumed"}`. The socket joins its group BEFORE reading
  the table, so an event committed meanwhile arrives live as well (hence the
  de-duplication by seq) and none falls between replay and live delivery.
- Gaps: an event may carry `coalesced_from_seq`; with last seen seq L, accept
  seq S when S == L + 1 or coalesced_from_seq <= L + 1 (progress ticks were
  skipped on purpose). Any other gap is a loss: resume from L.
- Keepalive: `{"type": "ping"}` is answered with `{"type": "pong"}`; a ping may
  carry `last_seq` like resume, and then also catches the client up, which
  heals a loss that no later event would reveal. Daphne additionally pings at
  the protocol level and drops connections that stop answering.
"""

import json
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from notifications.groups import ALL_VIDEOS_GROUP, user_group, video_group
from notifications.services.replay import catch_up_messages, parse_last_seqs
from videos.selectors import user_can_watch_video

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404  # no such video, or not one of yours


class VideoEventsConsumer(AsyncJsonWebsocketConsumer):
    """`/ws/videos/` follows all of the user's videos (staff: all videos); `/ws/videos/<id>/` one video."""

    group: str | None = None

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return

        self.video_id = self.scope["url_route"]["kwargs"].get("video_id")
        if self.video_id is not None:
            allowed = await database_sync_to_async(user_can_watch_video)(user=user, video_id=self.video_id)
            if not allowed:
                # Another user's video closes exactly like one that does not exist, as the HTTP API
                # answers 404 for both: the close code must not tell a caller which ids exist.
                await self._refuse(CLOSE_NOT_FOUND)
                return
            self.group = video_group(self.video_id)
        else:
            self.group = ALL_VIDEOS_GROUP if user.is_staff else user_group(user.pk)

        # Join first, replay second: see the module docstring.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"event_type": "subscribed", "video_id": self.video_id and str(self.video_id)})
        last_seq = self._query_last_seq()
        if last_seq is not None and self.video_id is not None:
            await self._resume(last_seq)

    def _query_last_seq(self) -> str | None:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        values = query.get("last_seq")
        return values[0] if values else None

    async def _refuse(self, code: int) -> None:
        # A close before accept becomes a bare HTTP 403 at the handshake; accepting
        # first lets the client read why it was refused.
        self.group = None
        await self.accept()
        await self.close(code=code)

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    @classmethod
    async def decode_json(cls, text_data):
        try:
            content = json.loads(text_data)
        except ValueError:
            return {"type": "invalid"}
        return content if isinstance(content, dict) else {"type": "invalid"}

    async def receive_json(self, content, **kwargs):
        kind = content.get("type")
        if kind == "ping":
            if "last_seq" in content:
                await self._resume(content["last_seq"], announce=False)
            await self.send_json({"type": "pong"})
        elif kind == "resume":
            await self._resume(content.get("last_seq"))
        else:
            await self.send_json({"type": "error", "error": "expected a message of type ping or resume"})

    async def _resume(self, raw_last_seq, *, announce: bool = True) -> None:
        try:
            last_seqs = parse_last_seqs(value=raw_last_seq, video_id=self.video_id)
        except ValueError as invalid:
            await self.send_json({"type": "error", "error": str(invalid)})
            return
        user = self.scope["user"]
        messages = await database_sync_to_async(catch_up_messages)(user=user, last_seqs=last_seqs)
        for message in messages:
            await self.send_json(message)
        if announce:
            await self.send_json({"type": "resumed", "replayed": len(messages)})

    async def dispatch(self, message):
        # Channels closes stale database connections before every handler, a hop
        # to the one shared sync thread. Live events never touch the database,
        # and that hop per event and connection serialised the whole fan-out;
        # the handlers that do use the database go through
        # database_sync_to_async, which does the same cleanup itself.
        if message["type"] == "video.event":
            await self.video_event(message)
        else:
            await super().dispatch(message)

    async def video_event(self, message):
        text = message.get("text")
        await (self.send(text_data=text) if text is not None else self.send_json(message["event"]))
