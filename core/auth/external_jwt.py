"""Tokens of an external identity provider (Supabase-compatible HS256 JWTs).

Enabled when JWT_SECRET is set. Claims used: `sub` (stable subject), `email`, `role`.
A subject is linked to the local user with the same email, or a local user is created.
A token's `role` names a platform role (admin/operator/viewer), or Supabase's
`service_role` (admin) / `authenticated` (viewer); it applies when the user is created.
"""

import jwt
from django.conf import settings
from django.db import IntegrityError, transaction

from core.models import Role, User
from core.services.roles import set_role

ROLE_FROM_CLAIM = {
    Role.ADMIN: Role.ADMIN,
    Role.OPERATOR: Role.OPERATOR,
    Role.VIEWER: Role.VIEWER,
    "service_role": Role.ADMIN,
    "authenticated": Role.VIEWER,
}


def decode_external_token(raw: str) -> dict | None:
    secret = settings.EXTERNAL_JWT_SECRET
    if not secret:
        return None
    options = {"require": ["sub", "exp"], "verify_aud": bool(settings.EXTERNAL_JWT_AUDIENCE)}
    try:
        return jwt.decode(
            raw,
            secret,
            algorithms=["HS256"],
            audience=settings.EXTERNAL_JWT_AUDIENCE,
            options=options,
        )
    except jwt.PyJWTError:
        return None


def user_from_external_token(raw: str) -> User | None:
    claims = decode_external_token(raw)
    if claims is None:
        return None
    subject = str(claims["sub"])
    user = User.objects.filter(external_subject=subject).first()
    if user is None:
        email = str(claims.get("email") or "").strip().lower()
        if not email:
            return None
        try:
            with transaction.atomic():
                user, created = User.objects.get_or_create(
                    email=email, defaults={"external_subject": subject}
                )
                if not created and not user.external_subject:
                    user.external_subject = subject
                    user.save(update_fields=["external_subject"])
                if created:
                    user.set_unusable_password()
                    user.save(update_fields=["password"])
                    set_role(user, ROLE_FROM_CLAIM.get(claims.get("role"), Role.VIEWER))
        except IntegrityError:
            user = User.objects.filter(external_subject=subject).first()
    if user is None or not user.is_active:
        return None
    return user
