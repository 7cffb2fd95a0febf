"""Roles of seeds/004 applied to the API: viewers read, users write their own, admins (staff) everything."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from videos.models_access import Role


def user_role(user) -> str:
    if user.is_staff or user.is_superuser:
        return Role.ADMIN
    profile = getattr(user, "account_profile", None)
    return profile.role if profile is not None else Role.USER


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
