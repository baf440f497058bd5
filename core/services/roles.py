"""Roles are Django groups named after `core.models.Role`; these helpers keep that in one place."""

from django.contrib.auth.models import Group, Permission

from core.models import Role

# Apps whose models operators may change in the admin; viewers may only view them.
OPERATOR_APPS = ("core", "product", "import_manager", "webhook", "scripts_runner")


def set_role(user, role: str) -> None:
    """Give `user` exactly one platform role."""
    if role not in Role.values:
        raise ValueError(f"Unknown role '{role}'.")
    groups = Group.objects.filter(name__in=Role.values)
    user.groups.remove(*groups)
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    user.__dict__.pop("role", None)


def ensure_role_groups() -> None:
    """Create the role groups with their admin permissions (idempotent)."""
    domain = Permission.objects.filter(content_type__app_label__in=OPERATOR_APPS)
    viewer, _ = Group.objects.get_or_create(name=Role.VIEWER)
    viewer.permissions.set(domain.filter(codename__startswith="view_"))
    operator, _ = Group.objects.get_or_create(name=Role.OPERATOR)
    operator.permissions.set(domain.exclude(content_type__model="user"))
    admin, _ = Group.objects.get_or_create(name=Role.ADMIN)
    admin.permissions.set(Permission.objects.all())
