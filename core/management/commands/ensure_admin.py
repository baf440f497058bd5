"""Create the first admin user once. Credentials come from ADMIN_EMAIL / ADMIN_PASSWORD, or a
password is generated and printed this one time. Does nothing if an admin already exists."""

import os
import secrets

from django.core.management.base import BaseCommand

from core.models import Role, User
from core.services.roles import set_role


class Command(BaseCommand):
    help = "Create the first admin user if there is none (idempotent)."

    def handle(self, *args, **options):
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("Admin user exists; nothing to do.")
            return
        email = os.environ.get("ADMIN_EMAIL", "admin@example.com").strip().lower()
        password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(16)
        user = User.objects.create_superuser(email=email, password=password)
        set_role(user, Role.ADMIN)
        self.stdout.write(self.style.SUCCESS("Created the first admin user:"))
        self.stdout.write(f"  email:    {email}")
        if "ADMIN_PASSWORD" in os.environ:
            self.stdout.write("  password: (from ADMIN_PASSWORD)")
        else:
            self.stdout.write(f"  password: {password}   <- shown once; change it after login")
