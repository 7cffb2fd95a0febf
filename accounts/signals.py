"""What the rest of the platform hears about credentials, and the model changes that end them.

`credential_ended` is sent after the transaction that ended a credential commits, with `user_id` and
`revocation_id` (accounts.credentials; None: every credential of that user). Open websockets close on it. It is
sent for:
- a user deactivated, deleted or given a new password: every credential (revocation_id None);
- an API token deleted (rotation deletes the old one);
- an API key revoked, expired by an edit, or deleted;
- a sign-out: that session.
Changes made without signals (a queryset update, SQL) are not seen here; an API key's or token's expiry is
enforced by whoever holds it (the websocket consumer closes at expiry).

Saving or deleting a key or a user also drops what the API-key authentication remembered of it in this process
(accounts.authentication), at once rather than after commit.
Connected by AccountsConfig.ready().
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import Signal
from rest_framework.authtoken.models import Token

from accounts import authentication
from accounts.credentials import api_key_revocation_id, session_revocation_id, token_revocation_id
from accounts.models import ApiKey

credential_ended = Signal()  # sender: the model class whose change ended it; user_id, revocation_id

ENDS_EVERY_SOCKET = ("password", "is_active")


def credential_ended_send(*, sender, user_id: int, revocation_id: str | None) -> None:
    """After the current transaction commits, say that the user's credential ended (None: all of them)."""
    transaction.on_commit(lambda: credential_ended.send(sender=sender, user_id=user_id, revocation_id=revocation_id))


def _note_user_credentials_change(sender, instance, update_fields=None, **kwargs) -> None:
    """Before a user is saved, note whether the save ends their credentials (compared with the stored row)."""
    instance._ends_every_socket = False
    if instance._state.adding or instance.pk is None:
        return
    if update_fields is not None and not set(update_fields) & set(ENDS_EVERY_SOCKET):
        return  # e.g. last_login at every sign-in: no query
    stored = sender._default_manager.filter(pk=instance.pk).values(*ENDS_EVERY_SOCKET).first()
    if stored is None:
        return
    instance._ends_every_socket = stored["password"] != instance.password or (
        stored["is_active"] and not instance.is_active
    )


def _user_saved(sender, instance, created, **kwargs) -> None:
    if getattr(instance, "_ends_every_socket", False):
        instance._ends_every_socket = False
        credential_ended_send(sender=sender, user_id=instance.pk, revocation_id=None)


def _user_deleted(sender, instance, **kwargs) -> None:
    credential_ended_send(sender=sender, user_id=instance.pk, revocation_id=None)


def _token_deleted(sender, instance: Token, **kwargs) -> None:
    credential_ended_send(sender=sender, user_id=instance.user_id, revocation_id=token_revocation_id(instance.key))


def _api_key_saved(sender, instance: ApiKey, created, **kwargs) -> None:
    if not created and not instance.is_active:
        credential_ended_send(sender=sender, user_id=instance.user_id, revocation_id=api_key_revocation_id(instance.pk))


def _api_key_deleted(sender, instance: ApiKey, **kwargs) -> None:
    credential_ended_send(sender=sender, user_id=instance.user_id, revocation_id=api_key_revocation_id(instance.pk))


def _signed_out(sender, request, user, **kwargs) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if user is not None and session_key:
        credential_ended_send(sender=type(user), user_id=user.pk, revocation_id=session_revocation_id(session_key))


def _api_key_changed(sender, instance: ApiKey, **kwargs) -> None:
    authentication.forget_key(key_hash=instance.key_hash)


def _user_changed(sender, instance, **kwargs) -> None:
    authentication.forget_user(user_id=instance.pk)


def connect_credential_receivers() -> None:
    user_model = get_user_model()
    post_save.connect(_api_key_changed, sender=ApiKey, dispatch_uid="api_key_auth_cache_key_saved")
    post_delete.connect(_api_key_changed, sender=ApiKey, dispatch_uid="api_key_auth_cache_key_deleted")
    post_save.connect(_user_changed, sender=user_model, dispatch_uid="api_key_auth_cache_user_saved")
    post_delete.connect(_user_changed, sender=user_model, dispatch_uid="api_key_auth_cache_user_deleted")
    pre_save.connect(_note_user_credentials_change, sender=user_model, dispatch_uid="socket_credentials_user_pre")
    post_save.connect(_user_saved, sender=user_model, dispatch_uid="socket_credentials_user_saved")
    post_delete.connect(_user_deleted, sender=user_model, dispatch_uid="socket_credentials_user_deleted")
    post_delete.connect(_token_deleted, sender=Token, dispatch_uid="socket_credentials_token_deleted")
    post_save.connect(_api_key_saved, sender=ApiKey, dispatch_uid="socket_credentials_api_key_saved")
    post_delete.connect(_api_key_deleted, sender=ApiKey, dispatch_uid="socket_credentials_api_key_deleted")
    user_logged_out.connect(_signed_out, dispatch_uid="socket_credentials_signed_out")
