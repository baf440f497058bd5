"""Turning a bearer token into a user: our own JWTs first, then an external IdP's."""

import logging

from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from core.models import User

from .external_jwt import user_from_external_token

logger = logging.getLogger(__name__)


def user_from_access_token(raw: str) -> User | None:
    """The active user a raw access token belongs to, or None if it is not valid."""
    try:
        token = AccessToken(raw)
    except TokenError:
        return user_from_external_token(raw)
    user = User.objects.filter(pk=token.get("user_id"), is_active=True).first()
    return user
