"""The user behind an access token is read once per token and process, and forgotten when
the user or its groups change."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from core.models import Role, User
from core.services.roles import set_role

pytestmark = pytest.mark.django_db

ME = "/api/auth/profile"


def _client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


def _user_queries(client) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        status = client.get(ME).status_code
    return status, sum('FROM "core_user"' in q["sql"] for q in queries.captured_queries)


def test_a_token_s_user_is_read_once(make_user, settings):
    settings.AUTH_USER_CACHE_SECONDS = 60
    client = _client(make_user("operator"))

    assert _user_queries(client)[0] == 200
    assert _user_queries(client) == (200, 0)


def test_a_deactivated_user_or_a_changed_role_counts_at_once(make_user, settings):
    settings.AUTH_USER_CACHE_SECONDS = 60
    user = make_user("admin")
    client = _client(user)
    assert client.get("/api/auth/users").status_code == 200

    set_role(User.objects.get(pk=user.pk), Role.VIEWER)
    assert client.get("/api/auth/users").status_code == 403

    user.is_active = False
    user.save()
    assert client.get(ME).status_code == 401


def test_without_the_cache_every_request_reads_the_user(make_user, settings):
    settings.AUTH_USER_CACHE_SECONDS = 0
    client = _client(make_user("viewer"))

    assert _user_queries(client)[1] >= 1
    assert _user_queries(client)[1] >= 1
