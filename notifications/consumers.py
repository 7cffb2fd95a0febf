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
- Bad input: a frame over MAX_MESSAGE_CHARS, JSON nested deeper than MAX_JSON_DEPTH or a binary frame is
  answered `{"type": "error", "error": ...}` and the socket closes with 4400; malformed JSON or an unknown
  message type only gets the error message.
- Credentials (accounts.websocket, notifications.credentials): the socket closes with 4401 when the credential
  it was opened with ends: expired, rotated, revoked, deleted, signed out, or its user deactivated or given a
  new password.
"""

import asyncio
import json
import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone

from accounts.credentials import SocketCredential
from accounts.websocket import PROTOCOL
from notifications.credentials import credentials_group
from notifications.groups import ALL_VIDEOS_GROUP, user_group, video_group
from notifications.services.replay import catch_up_messages, parse_last_seqs
from videos.models import sees_every_video
from videos.selectors import user_can_watch_video

logger = logging.getLogger(__name__)

CLOSE_BAD_REQUEST = 4400  # a frame the server will not read, or credentials in the URL
CLOSE_UNAUTHENTICATED = 4401  # not signed in, or the credential the socket was opened with ended
CLOSE_NOT_FOUND = 4404  # no such video, or not one of yours

# What clients send is small: a resume map of 200 videos is about 13,000 characters, two levels deep.
MAX_MESSAGE_CHARS = 65_536
MAX_JSON_DEPTH = 8


class FrameRefused(ValueError):
    """A frame the consumer will not read; the message is for the client."""


def json_nesting_depth(value) -> int:
    """How many arrays and objects deep a decoded JSON value goes (a scalar: 0), without recursing."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        node, depth = pending.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if depth > MAX_JSON_DEPTH:
            break  # deep enough to refuse: no need to walk the rest
        pending.extend((child, depth + 1) for child in children)
    return deepest


class VideoEventsConsumer(AsyncJsonWebsocketConsumer):
    """`/ws/videos/` follows all of the user's videos (staff: all videos, unless `?scope=own`); `/ws/videos/<id>/`
    one video."""

    group: str | None = None
    credential: SocketCredential | None = None
    credentials_group: str | None = None
    _expiry: asyncio.Task | None = None

    async def connect(self):
        refusal = self.scope.get("credential_refusal")
        if refusal:
            await self._refuse(CLOSE_BAD_REQUEST, message=refusal)
            return
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
            # `?scope=own` follows only the user's own videos, as a staff member's "Your videos" list shows.
            every_video = sees_every_video(user) and self._query_value("scope") != "own"
            self.group = ALL_VIDEOS_GROUP if every_video else user_group(user.pk)

        # Join first, replay second: see the module docstring.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self._follow_credential(user)
        await self.accept(subprotocol=self._selected_subprotocol())
        await self.send_json({"event_type": "subscribed", "video_id": self.video_id and str(self.video_id)})
        last_seq = self._query_last_seq()
        if last_seq is not None and self.video_id is not None:
            await self._resume(last_seq)

    def _query_last_seq(self) -> str | None:
        return self._query_value("last_seq")

    def _query_value(self, name: str) -> str | None:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        values = query.get(name)
        return values[0] if values else None

    def _selected_subprotocol(self) -> str | None:
        # A browser drops a socket whose server selects none of the protocols it offered.
        return PROTOCOL if PROTOCOL in (self.scope.get("subprotocols") or []) else None

    async def _follow_credential(self, user) -> None:
        """Join the user's credentials group, and close when the credential expires."""
        self.credential = self.scope.get("credential")
        self.credentials_group = credentials_group(user.pk)
        await self.channel_layer.group_add(self.credentials_group, self.channel_name)
        expires_at = self.credential.expires_at if self.credential else None
        if expires_at is not None:
            self._expiry = asyncio.ensure_future(self._end_at(expires_at))

    async def _end_at(self, expires_at) -> None:
        await asyncio.sleep(max((expires_at - timezone.now()).total_seconds(), 0))
        await self._end_for_credential("expired")

    async def _refuse(self, code: int, *, message: str | None = None) -> None:
        # A close before accept becomes a bare HTTP 403 at the handshake; accepting
        # first lets the client read why it was refused.
        self.group = None
        await self.accept(subprotocol=self._selected_subprotocol())
        if message:
            await self.send_json({"type": "error", "error": message})
        await self.close(code=code)

    async def _end_for_credential(self, why: str) -> None:
        kind = self.credential.kind if self.credential else "unknown"
        logger.info("websocket of user %s closed: its %s credential %s", self.scope["user"].pk, kind, why)
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def credentials_revoked(self, message):
        revoked = message.get("revocation_id")
        if revoked is None or (self.credential is not None and revoked == self.credential.revocation_id):
            await self._end_for_credential("ended")

    async def disconnect(self, code):
        if self._expiry is not None:
            self._expiry.cancel()
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if self.credentials_group:
            await self.channel_layer.group_discard(self.credentials_group, self.channel_name)

    @classmethod
    async def decode_json(cls, text_data):
        """The message as a dict ({"type": "invalid"} when it is not a JSON object); FrameRefused for a frame
        too long or too deeply nested to read."""
        if len(text_data) > MAX_MESSAGE_CHARS:
            raise FrameRefused(f"messages are limited to {MAX_MESSAGE_CHARS} characters")
        too_deep = FrameRefused(f"JSON nested deeper than {MAX_JSON_DEPTH} levels is refused")
        try:
            content = json.loads(text_data)
        except RecursionError:  # the parser's own limit, far beyond ours
            raise too_deep from None
        except ValueError:
            return {"type": "invalid"}
        if json_nesting_depth(content) > MAX_JSON_DEPTH:
            raise too_deep
        return content if isinstance(content, dict) else {"type": "invalid"}

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        try:
            if text_data is None:
                raise FrameRefused("messages are JSON text frames")
            content = await self.decode_json(text_data)
        except FrameRefused as refused:
            logger.warning(
                "websocket frame refused from user %s: %s (%d characters)",
                getattr(self.scope.get("user"), "pk", None),
                refused,
                len(text_data if text_data is not None else bytes_data or b""),
            )
            await self.send_json({"type": "error", "error": str(refused)})
            await self.close(code=CLOSE_BAD_REQUEST)
            return
        await self.receive_json(content, **kwargs)

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
