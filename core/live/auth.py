"""Live-stream authentication: a session cookie, or a JWT.

WebSocket (`/ws/jobs/`): the JWT in `?token=` or in Sec-WebSocket-Protocol: the client offers
two subprotocols, `bearer` and the token (`new WebSocket(url, ["bearer", token])`); the server
accepts `bearer`.

Socket.IO (`/socket.io/`): the JWT in the connect payload (`auth={"token": ...}`), in
`?token=`, or in an `Authorization: Bearer` header.

On both, a token takes precedence over the session: a token that is not valid is refused
even if a session cookie came with it.
"""

from http.cookies import CookieError, SimpleCookie
from importlib import import_module
from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack, get_user
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


def _socketio_token(environ: dict, auth) -> str | None:
    if isinstance(auth, dict) and auth.get("token"):
        token = str(auth["token"])
        return token.removeprefix("Bearer ").strip()
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if query.get("token"):
        return query["token"][0]
    scheme, _, credentials = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def _session_key(environ: dict) -> str | None:
    from django.conf import settings

    try:
        cookies = SimpleCookie(environ.get("HTTP_COOKIE", ""))
    except CookieError:
        return None
    morsel = cookies.get(settings.SESSION_COOKIE_NAME)
    return morsel.value if morsel is not None else None


async def socketio_user(environ: dict, auth):
    """The authenticated, active user of a Socket.IO connect request, or None.

    `environ` is the WSGI-style dict python-socketio builds from the ASGI scope and `auth`
    the client's connect payload. The session is read with Channels' own `get_user`, so a
    session is trusted on exactly the terms of the WebSocket endpoint (and of Django).
    """
    from django.conf import settings

    token = _socketio_token(environ, auth)
    if token:
        return await database_sync_to_async(user_from_access_token)(token)
    session_key = _session_key(environ)
    if not session_key:
        return None
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = await get_user({"session": session})
    return user if user.is_authenticated else None
