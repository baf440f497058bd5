"""Role-based API permissions: viewers read, operators act, admins manage.

A view may set `required_role` (all methods) or `action_roles` ({action: role}) to raise
or lower the default (viewer for safe methods, operator for the rest).
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from core.models import Role


class RolePermission(BasePermission):
    message = "Your role does not allow this action."

    def has_permission(self, request, view):
        user = request.user
        if not user or not user.is_authenticated:
            return False
        required = getattr(view, "required_role", None) or (
            Role.VIEWER if request.method in SAFE_METHODS else Role.OPERATOR
        )
        required = getattr(view, "action_roles", {}).get(getattr(view, "action", None), required)
        return user.has_role(required)


class IsAdminRole(BasePermission):
    message = "Only admins may do this."

    def has_permission(self, request, view):
        return bool(
            request.user and request.user.is_authenticated and request.user.has_role(Role.ADMIN)
        )
