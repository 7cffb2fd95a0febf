"""Reads about identity: a user's role and API keys."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from accounts.models import ApiKey, Role


def user_role(user) -> str:
    """Staff and superusers are admins whatever their profile says; users without a profile are plain users."""
    if user.is_staff or user.is_superuser:
        return Role.ADMIN
    profile = getattr(user, "account_profile", None)
    return profile.role if profile is not None else Role.USER


def api_keys_of_user(*, user: AbstractBaseUser) -> QuerySet[ApiKey]:
    """The user's keys, revoked and expired ones included, newest first."""
    return ApiKey.objects.filter(user=user).order_by("-created_at", "-id")


def api_key_of_user(*, user: AbstractBaseUser, key_id: int) -> ApiKey | None:
    return ApiKey.objects.filter(user=user, pk=key_id).first()
