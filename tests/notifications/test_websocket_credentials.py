"""Websockets authenticate without a credential in the URL, and end with the credential they were opened with.

In process (the ASGI application, the real Redis channel layer and database): a change made like the platform
makes it (a service, a model save, an API call) must close the affected sockets with 4401 and no other.
"""

import json
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.services.api_keys import api_key_create, api_key_revoke
from mediaplatform.asgi import application
from notifications.consumers import CLOSE_BAD_REQUEST, CLOSE_UNAUTHENTICATED
from tests.event_loops import run_in_own_loop
from tests.factories import TokenFactory, UserFactory
from tests.notifications.helpers import token_protocols

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's
CLOSE_WAIT_SECONDS = 10  # an upper bound for a busy machine, not the promise (that is well under a second)


def session_headers(user) -> tuple[Client, list]:
    client = Client()
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return client, [(b"cookie", cookie.encode())]


class Socket:
    def __init__(self, path: str = "/ws/videos/", *, headers=None, subprotocols=None):
        self.communicator = WebsocketCommunicator(application, path, headers=headers or [], subprotocols=subprotocols)
        self.subprotocol = None

    async def open(self) -> dict:
        """Connect; the first message (`subscribed`, an error) or {"close": code}."""
        connected, self.subprotocol = await self.communicator.connect(timeout=10)
        assert connected
        return await self.next()

    async def next(self, timeout: float = 10) -> dict:
        message = await self.communicator.receive_output(timeout=timeout)
        if message["type"] == "websocket.close":
            return {"close": message.get("code")}
        return json.loads(message["text"])

    async def open_ok(self) -> "Socket":
        assert (await self.open())["event_type"] == "subscribed"
        return self

    async def closed_with(self) -> int | None:
        """The close code of a socket the server is closing."""
        return (await self.next(timeout=CLOSE_WAIT_SECONDS)).get("close")

    async def still_open(self) -> bool:
        await self.communicator.send_json_to({"type": "ping"})
        return await self.next() == {"type": "pong"}

    async def leave(self) -> None:
        await self.communicator.disconnect()


def run(coroutine):
    return run_in_own_loop(coroutine)


def in_thread(function):
    """A sync change made from the test's event loop, as a view or a worker would make it (its own connection,
    handed back afterwards)."""
    return database_sync_to_async(function)


def test_the_token_in_the_protocol_header_authenticates_and_the_protocol_is_selected():
    token = TokenFactory()

    async def scenario():
        socket = Socket(subprotocols=token_protocols(token))
        first = await socket.open()
        await socket.leave()
        return first, socket.subprotocol

    first, subprotocol = run(scenario())
    assert first["event_type"] == "subscribed"
    assert subprotocol == "mediaplatform"


@pytest.mark.parametrize("parameter", ["token", "api_key"])
def test_a_credential_in_the_url_is_refused_with_4400_and_a_message(parameter):
    token = TokenFactory()

    async def scenario():
        socket = Socket(f"/ws/videos/?{parameter}={token.key}")
        return await socket.open(), await socket.next()

    error, closed = run(scenario())
    assert error["type"] == "error" and "ws-ticket" in error["error"] and "Sec-WebSocket-Protocol" in error["error"]
    assert closed == {"close": CLOSE_BAD_REQUEST}


def test_an_expired_or_unknown_token_is_refused_with_4401(settings):
    settings.API_TOKEN_TTL_DAYS = 1
    expired = TokenFactory()
    Token.objects.filter(pk=expired.pk).update(created=timezone.now() - timedelta(days=2))

    async def scenario(protocols):
        return await Socket(subprotocols=protocols).open()

    assert run(scenario(token_protocols(expired))) == {"close": CLOSE_UNAUTHENTICATED}
    assert run(scenario(["mediaplatform", "token.not-a-token"])) == {"close": CLOSE_UNAUTHENTICATED}


def test_an_api_key_in_the_protocol_header_authenticates():
    user = UserFactory()
    _row, key = api_key_create(user=user, name="live")

    async def scenario():
        socket = await Socket(subprotocols=["mediaplatform", f"api-key.{key}"]).open_ok()
        await socket.leave()

    run(scenario())


def test_deactivating_a_user_closes_all_their_sockets_and_no_one_elses():
    user, bystander = UserFactory(), UserFactory()
    token, bystander_token = TokenFactory(user=user), TokenFactory(user=bystander)
    _client, cookie = session_headers(user)

    def deactivate():
        user.is_active = False
        user.save()

    async def scenario():
        by_token = await Socket(subprotocols=token_protocols(token)).open_ok()
        by_session = await Socket(headers=cookie).open_ok()
        other = await Socket(subprotocols=token_protocols(bystander_token)).open_ok()
        await in_thread(deactivate)()
        codes = [await by_token.closed_with(), await by_session.closed_with()]
        alive = await other.still_open()
        await other.leave()
        return codes, alive

    codes, bystander_alive = run(scenario())
    assert codes == [CLOSE_UNAUTHENTICATED, CLOSE_UNAUTHENTICATED]
    assert bystander_alive


def test_a_password_change_closes_every_socket_of_the_user():
    user = UserFactory()
    token = TokenFactory(user=user)

    def change_password():
        user.set_password("a-new-and-longer-passphrase")
        user.save()

    async def scenario():
        socket = await Socket(subprotocols=token_protocols(token)).open_ok()
        await in_thread(change_password)()
        return await socket.closed_with()

    assert run(scenario()) == CLOSE_UNAUTHENTICATED


def test_deleting_a_token_closes_the_sockets_opened_with_it_only():
    user = UserFactory()
    token = TokenFactory(user=user)
    _client, cookie = session_headers(user)

    async def scenario():
        by_token = await Socket(subprotocols=token_protocols(token)).open_ok()
        by_session = await Socket(headers=cookie).open_ok()
        await in_thread(token.delete)()
        code = await by_token.closed_with()
        alive = await by_session.still_open()
        await by_session.leave()
        return code, alive

    assert run(scenario()) == (CLOSE_UNAUTHENTICATED, True)


def test_rotating_the_token_closes_sockets_opened_with_the_old_one():
    user = UserFactory()
    old = TokenFactory(user=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {old.key}")

    async def scenario():
        socket = await Socket(subprotocols=token_protocols(old)).open_ok()
        response = await in_thread(api.post)("/api/v1/auth/token/rotate/")
        return response, await socket.closed_with()

    response, code = run(scenario())
    assert response.status_code == 200
    assert code == CLOSE_UNAUTHENTICATED
    assert response.json()["token"] != old.key


def test_revoking_an_api_key_closes_its_sockets_and_not_those_of_the_users_other_key():
    user = UserFactory()
    revoked_row, revoked_key = api_key_create(user=user, name="to revoke")
    _kept_row, kept_key = api_key_create(user=user, name="kept")

    async def scenario():
        revoked = await Socket(subprotocols=["mediaplatform", f"api-key.{revoked_key}"]).open_ok()
        kept = await Socket(subprotocols=["mediaplatform", f"api-key.{kept_key}"]).open_ok()
        await in_thread(api_key_revoke)(user=user, key_id=revoked_row.pk)
        code = await revoked.closed_with()
        alive = await kept.still_open()
        await kept.leave()
        return code, alive

    assert run(scenario()) == (CLOSE_UNAUTHENTICATED, True)


def test_signing_out_closes_the_sockets_of_that_session():
    user = UserFactory()
    client, cookie = session_headers(user)
    _other_client, other_cookie = session_headers(user)  # the same user signed in elsewhere

    async def scenario():
        here = await Socket(headers=cookie).open_ok()
        elsewhere = await Socket(headers=other_cookie).open_ok()
        await in_thread(client.post)("/accounts/logout/")
        code = await here.closed_with()
        alive = await elsewhere.still_open()
        await elsewhere.leave()
        return code, alive

    assert run(scenario()) == (CLOSE_UNAUTHENTICATED, True)


def test_a_socket_closes_when_its_token_expires(settings):
    settings.API_TOKEN_TTL_DAYS = 1
    token = TokenFactory()
    # Issued a day ago less half a second: it expires while the socket is open.
    Token.objects.filter(pk=token.pk).update(created=timezone.now() - timedelta(days=1) + timedelta(seconds=0.5))

    async def scenario():
        socket = await Socket(subprotocols=token_protocols(token)).open_ok()
        return await socket.closed_with()

    assert run(scenario()) == CLOSE_UNAUTHENTICATED


def test_a_ticket_opens_one_socket_once_and_ends_with_the_credential_that_asked_for_it():
    token = TokenFactory()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    response = api.post("/api/v1/ws-ticket/")
    assert response.status_code == 201
    body = response.json()
    assert body["expires_in"] == settings.WS_TICKET_TTL_SECONDS
    ticket = body["ticket"]

    async def scenario():
        socket = await Socket(f"/ws/videos/?ticket={ticket}").open_ok()
        replayed = await Socket(f"/ws/videos/?ticket={ticket}").open()
        await in_thread(token.delete)()
        return replayed, await socket.closed_with()

    replayed, code = run(scenario())
    assert replayed == {"close": CLOSE_UNAUTHENTICATED}  # spent
    assert code == CLOSE_UNAUTHENTICATED


def test_an_unknown_ticket_is_refused_with_4401():
    async def scenario():
        return await Socket("/ws/videos/?ticket=made-up").open()

    assert run(scenario()) == {"close": CLOSE_UNAUTHENTICATED}


def test_a_ticket_needs_a_signed_in_caller():
    response = APIClient().post("/api/v1/ws-ticket/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_ticket_is_refused_once_the_token_that_asked_for_it_is_gone():
    token = TokenFactory()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    ticket = api.post("/api/v1/ws-ticket/").json()["ticket"]
    token.delete()

    async def scenario():
        return await Socket(f"/ws/videos/?ticket={ticket}").open()

    assert run(scenario()) == {"close": CLOSE_UNAUTHENTICATED}
