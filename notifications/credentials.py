"""Telling open websockets that a credential is gone.

Every accepted socket joins its user's credentials group and remembers the credential it authenticated with
(accounts.credentials). When accounts says a credential ended (the `credential_ended` signal, sent after the
change commits: token deleted or rotated, key revoked or deleted, sign-out), a `credentials.revoked` message
naming its revocation id goes to the group and the sockets opened with it close; when the user is deactivated,
deleted or changes password, the message names no credential and every socket of that user closes.
"""

import logging

from channels.layers import get_channel_layer

from accounts.signals import credential_ended
from notifications.services.layer_loop import run_on_layer_loop

logger = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 5


def credentials_group(user_id: int) -> str:
    return f"credentials.{user_id}"


async def _group_send(user_id: int, revocation_id: str | None) -> None:
    await get_channel_layer().group_send(
        credentials_group(user_id), {"type": "credentials.revoked", "revocation_id": revocation_id}
    )


def _send_now(user_id: int, revocation_id: str | None) -> None:
    try:
        run_on_layer_loop(_group_send(user_id, revocation_id), timeout=SEND_TIMEOUT_SECONDS)
    except Exception:  # the change itself is committed; a socket still open is logged, not a failed request
        logger.exception("could not tell the websockets of user %s that credential %s ended", user_id, revocation_id)
    else:
        logger.info("websockets of user %s told that credential %s ended", user_id, revocation_id or "(all)")


def close_sockets_of_ended_credential(sender, *, user_id: int, revocation_id: str | None, **kwargs) -> None:
    """Receiver of accounts' `credential_ended`: close the user's sockets opened with it (None: all of them)."""
    _send_now(user_id, revocation_id)


def connect_credential_receivers() -> None:
    credential_ended.connect(close_sockets_of_ended_credential, dispatch_uid="notifications_close_sockets")
