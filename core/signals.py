from django.db.models.signals import post_migrate
from django.dispatch import receiver


@receiver(post_migrate)
def create_role_groups(sender, **kwargs):
    """Keep the role groups' permissions in step as each platform app's permissions appear."""
    from core.services.roles import OPERATOR_APPS, ensure_role_groups

    if sender.label in OPERATOR_APPS:
        ensure_role_groups()
