"""Admins changing other users' access (role, active flag, staff flag), without ever leaving
the platform with no active admin."""

from django.db import transaction
from django.db.models import Q

from core.exceptions import LastActiveAdmin, OwnAdminAccess, SuperuserRole
from core.models import Role, User

from .roles import set_role


def active_admins():
    """Users who are active admins: superusers, or members of the admin role group."""
    return User.objects.filter(is_active=True).filter(
        Q(is_superuser=True) | Q(groups__name=Role.ADMIN)
    )


def _takes_admin_access(user: User, role, is_active, is_staff) -> bool:
    """Would the change remove the user's admin access (deactivate, demote, un-staff)?"""
    return (
        (is_active is False and user.is_active)
        or (role is not None and role != Role.ADMIN and user.role == Role.ADMIN)
        or (is_staff is False and user.is_staff)
    )


def change_user_access(
    actor: User,
    user: User,
    *,
    role: str | None = None,
    is_active: bool | None = None,
    is_staff: bool | None = None,
) -> User:
    """Apply an admin's change to `user` (None leaves a value as it is) and return the user.

    Refused (409): taking admin access (active flag, admin role, staff flag) away from
    oneself or from the last active admin, and giving a superuser a role (they are admins
    by definition). Concurrent changes are serialized on the admins' rows, so two admins
    demoting each other at once cannot both succeed.
    """
    with transaction.atomic():
        # Lock every active admin (always in the same order), then count again: the count
        # runs after any concurrent change to them has committed.
        admin_ids = active_admins().values("pk")
        list(User.objects.filter(pk__in=admin_ids).order_by("pk").select_for_update())
        user = User.objects.select_for_update().get(pk=user.pk)
        if role is not None and user.is_superuser and role != Role.ADMIN:
            raise SuperuserRole(
                "A superuser is an admin whatever their role; remove superuser status in the "
                "admin console first.",
                fields={"role": ["A superuser's role cannot be changed."]},
            )
        was_admin = user.is_active and user.role == Role.ADMIN
        if was_admin and _takes_admin_access(user, role, is_active, is_staff):
            if user.pk == actor.pk:
                raise OwnAdminAccess(
                    "Admins cannot deactivate, demote or un-staff themselves; ask another admin."
                )
            if not active_admins().exclude(pk=user.pk).exists():
                raise LastActiveAdmin(
                    "This is the last active admin: make another user admin first."
                )
        flags = {"is_active": is_active, "is_staff": is_staff}
        changed = {
            name: value
            for name, value in flags.items()
            if value is not None and getattr(user, name) != value
        }
        for name, value in changed.items():
            setattr(user, name, value)
        if changed:
            user.save(update_fields=list(changed))
        if role is not None and role != user.role:
            set_role(user, role)
    return user
