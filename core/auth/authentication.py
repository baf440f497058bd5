"""Bearer-token authentication for the API: our JWTs, or an external IdP's when configured."""

from django.conf import settings
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken

from .external_jwt import user_from_external_token


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
