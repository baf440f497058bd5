"""Bearer-token authentication for the API: our JWTs, or an external IdP's when configured.

The user behind an access token is looked up once and kept in the process for
AUTH_USER_CACHE_SECONDS (with the role already read), per token: each API request used to
cost two queries (the user, its groups) before the view ran. Saving or deleting a user, or
changing its groups, forgets it at once in the process that did it; other processes notice
within those seconds (a deactivated user or a changed role, like a token's own lifetime).
"""

from __future__ import annotations

import copy
import threading
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models.signals import m2m_changed, post_delete, post_save
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings

from .external_jwt import user_from_external_token

#: token id -> (monotonic expiry, user id, the user with its role resolved)
_USERS: dict[str, tuple[float, object, object]] = {}
_LOCK = threading.Lock()
_MAX_ENTRIES = 10_000


class BearerTokenAuthentication(JWTAuthentication):
    """Accepts the platform's own access tokens and, if JWT_SECRET is set, HS256 tokens of an
    external identity provider (Supabase-compatible claims)."""

    def authenticate(self, request):
        try:
            return super().authenticate(request)
        except InvalidToken:
            if not settings.EXTERNAL_JWT_SECRET:
                raise
            raw = self.get_raw_token(self.get_header(request))
            user = user_from_external_token(raw.decode("latin-1"))
            if user is None:
                raise
            return user, None

    def get_user(self, validated_token):
        seconds = settings.AUTH_USER_CACHE_SECONDS
        key = validated_token.get(api_settings.JTI_CLAIM)
        if seconds <= 0 or not key:
            return super().get_user(validated_token)
        now = time.monotonic()
        found = _USERS.get(key)
        if found is not None and found[0] > now:
            return copy.copy(found[2])  # a request may change its user; the cache's stays
        user = super().get_user(validated_token)  # is_active (and revocation) checked here
        _ = user.role  # read once, kept with the user
        with _LOCK:
            if len(_USERS) >= _MAX_ENTRIES:
                for stale in [k for k, (until, _, _) in _USERS.items() if until <= now]:
                    del _USERS[stale]
                if len(_USERS) >= _MAX_ENTRIES:
                    _USERS.clear()
            _USERS[key] = (now + seconds, user.pk, user)
        return copy.copy(user)


def forget_user(user_id) -> None:
    """Drop every cached token of the user (this process)."""
    with _LOCK:
        for key in [k for k, (_, pk, _) in _USERS.items() if pk == user_id]:
            del _USERS[key]


def _user_changed(sender, instance, **kwargs):
    forget_user(instance.pk)


def _groups_changed(sender, instance, action, reverse, pk_set, **kwargs):
    if not action.startswith("post_"):
        return
    if reverse:  # a group's users changed
        if pk_set is None:
            _USERS.clear()
        else:
            for pk in pk_set:
                forget_user(pk)
    else:
        forget_user(instance.pk)


_User = get_user_model()
post_save.connect(_user_changed, sender=_User, dispatch_uid="auth_user_cache_save")
post_delete.connect(_user_changed, sender=_User, dispatch_uid="auth_user_cache_delete")
m2m_changed.connect(
    _groups_changed, sender=_User.groups.through, dispatch_uid="auth_user_cache_groups"
)
