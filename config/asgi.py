"""ASGI entry point: Socket.IO at /socket.io/, other HTTP through Django, WebSockets through
Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# The web server's requests share a pool of PostgreSQL connections (config/settings.py:
# DB_POOL_MAX_SIZE; set it to 0 to open a connection per request instead).
_POOL_BY_DEFAULT = "DB_POOL_MAX_SIZE" not in os.environ
os.environ.setdefault("DB_POOL_MAX_SIZE", "10")
# Django must be set up before the consumers (and their models) are imported.
django_asgi_app = get_asgi_application()
if _POOL_BY_DEFAULT:
    # For this process only: a process started from it (a Celery worker started by a test, a
    # script) must not inherit it. A prefork worker's children would share a forked pool.
    del os.environ["DB_POOL_MAX_SIZE"]

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from codes.asgi_links import links_fast_path  # noqa: E402
from core.live.auth import JWTAuthMiddlewareStack  # noqa: E402
from core.live.origin import BrowserAllowedHostsOriginValidator  # noqa: E402
from core.live.routing import websocket_urlpatterns  # noqa: E402
from core.live.socketio_app import socketio_asgi_app  # noqa: E402

channels_application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": BrowserAllowedHostsOriginValidator(
            JWTAuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)

# Requests under /socket.io/ (HTTP long-polling and WebSocket) go to python-socketio; every
# other request, lifespan included, to Channels exactly as before. Cached short-link hits
# are answered before all of it (codes.asgi_links: Django's handler is ~10x slower there).
application = links_fast_path(socketio_asgi_app(channels_application))
