"""Roles applied to the API: viewers read, users write their own, admins (staff) everything."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.models import Role
from accounts.selectors import user_role


class RoleAccess(BasePermission):
    """Authenticated; viewers may only read (their own API keys excepted)."""

    message = "Your role (viewer) may only read."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if request.method in SAFE_METHODS or getattr(view, "allow_viewer_writes", False):
            return True
        return user_role(request.user) != Role.VIEWER


class IsStaffForWrites(BasePermission):
    message = "Only staff may change the model registry."

    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or bool(request.user and request.user.is_staff)
