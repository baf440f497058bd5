"""WebSocket authentication: session cookie, or a JWT in `?token=` or Sec-WebSocket-Protocol.

For the header form the client offers two subprotocols, `bearer` and the token
(`new WebSocket(url, ["bearer", token])`); the server accepts `bearer`.
"""

from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware

from core.auth.tokens import user_from_access_token

BEARER_SUBPROTOCOL = "bearer"


def _token_from_scope(scope) -> tuple[str | None, str | None]:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("token"):
        return query["token"][0], None
    protocols = scope.get("subprotocols") or []
    if len(protocols) >= 2 and protocols[0] == BEARER_SUBPROTOCOL:
        return protocols[1], BEARER_SUBPROTOCOL
    return None, None


class JWTAuthMiddleware(BaseMiddleware):
    """Runs after the session middleware; a valid token takes precedence over the session."""

    async def __call__(self, scope, receive, send):
        token, subprotocol = _token_from_scope(scope)
        if token:
            user = await database_sync_to_async(user_from_access_token)(token)
            scope = dict(scope)
            scope["accepted_subprotocol"] = subprotocol
            if user is not None:
                scope["user"] = user
            else:
                from django.contrib.auth.models import AnonymousUser

                scope["user"] = AnonymousUser()
        return await super().__call__(scope, receive, send)


def JWTAuthMiddlewareStack(inner):  # noqa: N802 - mirrors channels' AuthMiddlewareStack
    return AuthMiddlewareStack(JWTAuthMiddleware(inner))
