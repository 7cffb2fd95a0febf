"""Who may do what through the API: roles and API keys."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"  # everything, all videos
    USER = "user", "User"  # own videos
    VIEWER = "viewer", "Viewer"  # read-only on own videos


class AccountProfile(models.Model):
    """A user's role. Users without a profile are plain users; staff are admins whatever it says."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account_profile")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.USER)

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"


API_KEY_PREFIX_LENGTH = 8


def api_key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_generate() -> tuple[str, str, str]:
    """A new key as (full key shown once, its public prefix, SHA-256 of the full key)."""
    prefix = secrets.token_hex(API_KEY_PREFIX_LENGTH // 2)
    key = f"mp_{prefix}_{secrets.token_urlsafe(32)}"
    return key, prefix, api_key_hash(key)


class ApiKey(models.Model):
    """An API key: only its prefix and SHA-256 are stored; the key itself is shown once at creation."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=API_KEY_PREFIX_LENGTH, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()
