"""A real HTTP server on 127.0.0.1 for tests of outbound calls: scripted replies (the last one
repeats), every request recorded.

    server = ScriptedServer()
    server.script(Reply(503, headers={"Retry-After": "1"}), Reply(200))
    ...
    [first, second] = server.wait_for(2)
    server.close()
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    method: str
    path: str
    headers: dict  # lower-cased names
    body: bytes
    at: float  # time.monotonic() on arrival
    signature_valid: bool | None = None

    def json(self):
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b'{"ok": true}'
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    #: Close the connection without answering (the caller sees a dropped answer).
    drop: bool = False


class ScriptedServer:
    """A threaded HTTP server answering every method with the scripted replies."""

    path = "/"

    def __init__(self):
        self.requests: list[Received] = []
        self.replies: list[Reply] = [Reply()]
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.url = self.base_url + self.path
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def on_request(self, record: Received) -> None:
        """Hook for subclasses (e.g. to verify a signature) before the reply is chosen."""

    def script(self, *replies: Reply) -> None:
        self.replies = list(replies)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.requests) >= count:
                return self.requests
            time.sleep(0.02)
        raise AssertionError(f"expected {count} requests, got {len(self.requests)}")

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in handler.headers.items()}
        record = Received(handler.command, handler.path, headers, body, time.monotonic())
        self.on_request(record)
        with self._lock:
            self.requests.append(record)
            index = len(self.requests) - 1
            reply = self.replies[min(index, len(self.replies) - 1)]
        if reply.delay:
            time.sleep(reply.delay)
        if reply.drop:
            handler.close_connection = True
            return
        handler.send_response(reply.status)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(reply.body)))
        handler.end_headers()
        # The caller may stop reading after an excerpt: that is fine.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            handler.wfile.write(reply.body)

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                server._answer(self)

            do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET  # noqa: N815

            def log_message(self, *args):
                pass

        return Handler
