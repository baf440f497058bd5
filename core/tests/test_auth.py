"""Registration, login (JWT), refresh, profile, password change, throttling, external IdP."""

import time

import jwt
import pytest

from core.models import Role, User

pytestmark = pytest.mark.django_db

PASSWORD = "S3cure-pass-phrase!"


def register(api_client, email="new@example.com", password=PASSWORD, **extra):
    return api_client.post(
        "/api/auth/register", {"email": email, "password": password, **extra}, format="json"
    )


def test_register_creates_a_viewer_and_returns_tokens(api_client):
    response = register(api_client, email="New@Example.com")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["access"] and body["refresh"]
    assert body["user"]["email"] == "new@example.com"
    assert body["user"]["role"] == Role.VIEWER
    assert "password" not in response.content.decode()


def test_register_applies_password_validators(api_client):
    response = register(api_client, password="12345678")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "password" in error["message"].lower() or error["fields"]
    assert not User.objects.exists()


def test_register_refuses_an_existing_email_in_another_case(api_client, make_user):
    make_user(email="taken@example.com")
    response = register(api_client, email="TAKEN@example.com")
    assert response.status_code == 400
    assert "email" in response.json()["error"]["fields"]


def test_login_returns_jwt_pair_that_authenticates(api_client, make_user):
    make_user("operator", email="op@example.com")
    response = api_client.post(
        "/api/auth/login", {"email": "OP@example.com", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    access = response.json()["access"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    profile = api_client.get("/api/auth/profile")
    assert profile.status_code == 200
    assert profile.json()["email"] == "op@example.com"
    assert profile.json()["role"] == Role.OPERATOR


def test_login_answers_the_script_runners_request_with_access_token_and_user_email(
    api_client, make_user
):
    make_user("viewer", email="test@example.com", password="test123")
    # Seed 000, verbatim: POST /api/auth/login {"email", "password"} → access_token, user.email
    response = api_client.post(
        "/api/auth/login",
        data='{"email": "test@example.com", "password": "test123"}',
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["user"]["email"] == "test@example.com"
    assert body["access_token"] == body["access"]
    assert body["refresh"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert api_client.get("/api/auth/profile").json()["email"] == "test@example.com"
    v1 = api_client.post(
        "/api/v1/auth/login", {"email": "test@example.com", "password": "test123"}, format="json"
    )
    assert v1.status_code == 200
    assert v1.json()["access_token"]


def test_login_with_wrong_password_is_401_in_the_error_shape(api_client, make_user):
    make_user(email="u@example.com")
    response = api_client.post(
        "/api/auth/login", {"email": "u@example.com", "password": "wrong"}, format="json"
    )
    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "invalid_credentials", "message": "Email or password is incorrect."}
    }


def test_repeated_failed_logins_are_throttled_with_429(api_client, make_user, settings):
    make_user(email="victim@example.com")
    codes = [
        api_client.post(
            "/api/auth/login", {"email": "victim@example.com", "password": f"x{i}"}, format="json"
        ).status_code
        for i in range(8)
    ]
    assert codes[:5] == [401] * 5
    assert codes[5:] == [429] * 3
    throttled = api_client.post(
        "/api/auth/login", {"email": "victim@example.com", "password": PASSWORD}, format="json"
    )
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "throttled"
    assert "Retry-After" in throttled.headers


def test_refresh_issues_a_new_access_token(api_client, make_user):
    make_user(email="r@example.com")
    tokens = api_client.post(
        "/api/auth/login", {"email": "r@example.com", "password": PASSWORD}, format="json"
    ).json()
    response = api_client.post("/api/auth/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 200
    assert response.json()["access"]
    bad = api_client.post("/api/auth/refresh", {"refresh": "garbage"}, format="json")
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "token_not_valid"


def test_profile_update_changes_names_and_rejects_unknown_fields(client_for):
    client = client_for("viewer")
    response = client.put(
        "/api/auth/profile",
        {"email": client.user.email, "first_name": "Ada", "last_name": "L"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["first_name"] == "Ada"
    bad = client.patch("/api/auth/profile", {"is_superuser": True}, format="json")
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"] == {"is_superuser": ["Unknown field."]}
    client.user.refresh_from_db()
    assert not client.user.is_superuser


def test_change_password_requires_the_current_one(client_for):
    client = client_for("viewer")
    wrong = client.post(
        "/api/auth/change-password",
        {"old_password": "nope", "new_password": "An0ther-long-phrase"},
        format="json",
    )
    assert wrong.status_code == 400
    assert "old_password" in wrong.json()["error"]["fields"]
    weak = client.post(
        "/api/auth/change-password",
        {"old_password": PASSWORD, "new_password": "123"},
        format="json",
    )
    assert weak.status_code == 400
    assert "new_password" in weak.json()["error"]["fields"]
    ok = client.post(
        "/api/auth/change-password",
        {"old_password": PASSWORD, "new_password": "An0ther-long-phrase"},
        format="json",
    )
    assert ok.status_code == 204
    client.user.refresh_from_db()
    assert client.user.check_password("An0ther-long-phrase")


def test_unauthenticated_requests_get_401(api_client):
    response = api_client.get("/api/jobs/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_production_settings_hash_passwords_with_argon2():
    import config.settings as production

    assert production.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    from django.contrib.auth.hashers import Argon2PasswordHasher

    hasher = Argon2PasswordHasher()
    encoded = hasher.encode("x", hasher.salt())
    assert encoded.startswith("argon2$") and hasher.verify("x", encoded)


class TestExternalIdentityProvider:
    SECRET = "external-idp-secret-for-tests-0123456789"

    def token(self, **claims):
        payload = {
            "sub": "ext-123",
            "email": "ext@example.com",
            "role": "authenticated",
            "exp": int(time.time()) + 300,
            **claims,
        }
        return jwt.encode(payload, self.SECRET, algorithm="HS256")

    def test_external_token_maps_to_a_local_user(self, api_client, settings):
        settings.EXTERNAL_JWT_SECRET = self.SECRET
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.token()}")
        response = api_client.get("/api/auth/profile")
        assert response.status_code == 200, response.content
        assert response.json()["email"] == "ext@example.com"
        user = User.objects.get(email="ext@example.com")
        assert user.external_subject == "ext-123"
        assert user.role == Role.VIEWER
        assert not user.has_usable_password()
        # The same subject maps to the same user next time, even with a new email claim.
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.token(email='x@y.z')}")
        assert api_client.get("/api/auth/profile").json()["email"] == "ext@example.com"

    def test_external_token_with_wrong_signature_or_expired_is_401(self, api_client, settings):
        settings.EXTERNAL_JWT_SECRET = self.SECRET
        forged = jwt.encode(
            {"sub": "a", "email": "a@b.c", "exp": int(time.time()) + 60},
            "other-secret-of-sufficient-length-1234",
            algorithm="HS256",
        )
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
        assert api_client.get("/api/auth/profile").status_code == 401
        expired = self.token(exp=int(time.time()) - 10)
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {expired}")
        assert api_client.get("/api/auth/profile").status_code == 401
        assert not User.objects.filter(email="a@b.c").exists()

    def test_external_tokens_are_refused_when_no_secret_is_configured(self, api_client, settings):
        settings.EXTERNAL_JWT_SECRET = ""
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.token()}")
        assert api_client.get("/api/auth/profile").status_code == 401
