from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower
from django.utils.functional import cached_property


class Role(models.TextChoices):
    """Platform roles, stored as Django groups of the same name."""

    ADMIN = "admin", "Admin"
    OPERATOR = "operator", "Operator"
    VIEWER = "viewer", "Viewer"


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        email = self.normalize_email(email).lower()
        user = self.model(email=email, **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)

    def get_by_natural_key(self, username):
        return self.get(email__iexact=username)


class User(AbstractUser):
    """A person or service account; identified by email (case-insensitive)."""

    username = None
    email = models.EmailField("email address", unique=True)
    # Subject of an external identity provider's token (e.g. Supabase `sub`), if linked.
    external_subject = models.CharField(max_length=255, blank=True, default="")

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []

    objects = UserManager()

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="core_user_email_ci_unique"),
            models.UniqueConstraint(
                fields=["external_subject"],
                condition=~models.Q(external_subject=""),
                name="core_user_external_subject_unique",
            ),
        ]

    def __str__(self):
        return self.email

    @cached_property
    def role(self) -> str | None:
        """The highest role the user holds; superusers are admins."""
        if self.is_superuser:
            return Role.ADMIN
        names = set(self.groups.values_list("name", flat=True))
        for role in (Role.ADMIN, Role.OPERATOR, Role.VIEWER):
            if role in names:
                return role
        return None

    def has_role(self, minimum: str) -> bool:
        """True when the user's role is at least `minimum` (admin > operator > viewer)."""
        order = [Role.VIEWER, Role.OPERATOR, Role.ADMIN]
        role = self.role
        return role is not None and order.index(role) >= order.index(minimum)
