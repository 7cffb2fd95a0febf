"""`/ws/alerts/`: platform alerts for staff, live.

On connect a staff socket gets `{"event_type": "subscribed", "alerts": [...]}` with every open alert, then each
`alert_opened` / `alert_escalated` / `alert_resolved` event as it commits
(`{"event_type": ..., "timestamp": ..., "alert": {...}}`).
Anyone else is refused: 4401 when not signed in, 4403 when not staff. Like /ws/videos/, the socket closes with
4401 when the credential it was opened with ends (notifications.credentials).
"""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from accounts.websocket import PROTOCOL
from notifications.credentials import credentials_group
from notifications.groups import STAFF_ALERTS_GROUP
from notifications.selectors import open_alert_payloads

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


class StaffAlertsConsumer(AsyncJsonWebsocketConsumer):
    joined = False
    credentials_group: str | None = None

    async def connect(self):
        subprotocol = PROTOCOL if PROTOCOL in (self.scope.get("subprotocols") or []) else None
        user = self.scope.get("user")
        refusal = None
        if self.scope.get("credential_refusal") or user is None or not user.is_authenticated:
            refusal = CLOSE_UNAUTHENTICATED
        elif not user.is_staff:
            refusal = CLOSE_FORBIDDEN
        # Accepted before closing either way, so the client reads the close code rather than a bare 403.
        await self.accept(subprotocol=subprotocol)
        if refusal is not None:
            await self.close(code=refusal)
            return
        # Join first, snapshot second: an alert committed meanwhile arrives live too, and none is missed.
        await self.channel_layer.group_add(STAFF_ALERTS_GROUP, self.channel_name)
        self.joined = True
        self.credentials_group = credentials_group(user.pk)
        await self.channel_layer.group_add(self.credentials_group, self.channel_name)
        alerts = await database_sync_to_async(open_alert_payloads)()
        await self.send_json({"event_type": "subscribed", "alerts": alerts})

    async def disconnect(self, code):
        if self.joined:
            await self.channel_layer.group_discard(STAFF_ALERTS_GROUP, self.channel_name)
        if self.credentials_group:
            await self.channel_layer.group_discard(self.credentials_group, self.channel_name)

    async def credentials_revoked(self, message):
        revoked = message.get("revocation_id")
        credential = self.scope.get("credential")
        if revoked is None or (credential is not None and revoked == credential.revocation_id):
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def video_event(self, message):
        # Outbox delivery wraps every event, alerts included, in this one message type.
        text = message.get("text")
        await (self.send(text_data=text) if text is not None else self.send_json(message["event"]))
