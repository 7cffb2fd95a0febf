"""Open websockets end with their credentials: the model changes that end a credential tell them (after commit).

- a user deactivated, deleted or given a new password: every socket of that user;
- an API token deleted (rotation deletes the old one): the sockets opened with it;
- an API key revoked, expired by an edit, or deleted: the sockets opened with it;
- a sign-out: the sockets opened with that session.
Changes made without signals (a queryset update, SQL) are not seen here; an API key's or token's expiry is
enforced by the socket itself (notifications.consumers).
Connected by NotificationsConfig.ready().
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_delete, post_save, pre_save
from rest_framework.authtoken.models import Token

from notifications.credentials import (
    api_key_revocation_id,
    credentials_revoked_send,
    session_revocation_id,
    token_revocation_id,
)
from videos.models_access import ApiKey

ENDS_EVERY_SOCKET = ("password", "is_active")


def _note_user_credentials_change(sender, instance, update_fields=None, **kwargs) -> None:
    """Before a user is saved, note whether the save ends their sockets (compared with the stored row)."""
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
        credentials_revoked_send(user_id=instance.pk, revocation_id=None)


def _user_deleted(sender, instance, **kwargs) -> None:
    credentials_revoked_send(user_id=instance.pk, revocation_id=None)


def _token_deleted(sender, instance: Token, **kwargs) -> None:
    credentials_revoked_send(user_id=instance.user_id, revocation_id=token_revocation_id(instance.key))


def _api_key_saved(sender, instance: ApiKey, created, **kwargs) -> None:
    if not created and not instance.is_active:
        credentials_revoked_send(user_id=instance.user_id, revocation_id=api_key_revocation_id(instance.pk))


def _api_key_deleted(sender, instance: ApiKey, **kwargs) -> None:
    credentials_revoked_send(user_id=instance.user_id, revocation_id=api_key_revocation_id(instance.pk))


def _signed_out(sender, request, user, **kwargs) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if user is not None and session_key:
        credentials_revoked_send(user_id=user.pk, revocation_id=session_revocation_id(session_key))


def connect_credential_receivers() -> None:
    user_model = get_user_model()
    pre_save.connect(_note_user_credentials_change, sender=user_model, dispatch_uid="socket_credentials_user_pre")
    post_save.connect(_user_saved, sender=user_model, dispatch_uid="socket_credentials_user_saved")
    post_delete.connect(_user_deleted, sender=user_model, dispatch_uid="socket_credentials_user_deleted")
    post_delete.connect(_token_deleted, sender=Token, dispatch_uid="socket_credentials_token_deleted")
    post_save.connect(_api_key_saved, sender=ApiKey, dispatch_uid="socket_credentials_api_key_saved")
    post_delete.connect(_api_key_deleted, sender=ApiKey, dispatch_uid="socket_credentials_api_key_deleted")
    user_logged_out.connect(_signed_out, dispatch_uid="socket_credentials_signed_out")
