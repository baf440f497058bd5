"""A real HTTP receiver on 127.0.0.1 for webhook deliveries: scripted replies, every request
recorded, each signature verified independently of the app's signing code.

    receiver = Receiver()            # or the `receiver` fixture (webhook.testing.fixtures)
    receiver.secret = webhook.secret # verify signatures
    receiver.script(Reply(500), Reply(200))
    ...
    [first, second] = receiver.wait_for(2)
"""

import base64
import contextlib
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def independent_signature_check(secret: str, headers: dict, body: bytes) -> bool:
    """The receiver's side of Standard Webhooks, written without the app's signing code."""
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    fresh = abs(time.time() - int(headers["webhook-timestamp"])) < 300
    return fresh and any(
        hmac.compare_digest(f"v1,{expected}", candidate)
        for candidate in headers["webhook-signature"].split(" ")
    )


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


class Receiver:
    """A threaded HTTP server on 127.0.0.1 answering with scripted replies (the last one
    repeats) and verifying each request's signature when `secret` is set."""

    def __init__(self):
        self.requests: list[Received] = []
        self.replies: list[Reply] = [Reply()]
        self.secret: str | None = None
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                record = Received("POST", self.path, headers, body, time.monotonic())
                if receiver.secret is not None:
                    record.signature_valid = independent_signature_check(
                        receiver.secret, headers, body
                    )
                with receiver._lock:
                    receiver.requests.append(record)
                    index = len(receiver.requests) - 1
                    reply = receiver.replies[min(index, len(receiver.replies) - 1)]
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                # The sender may stop reading after its excerpt: that is fine.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(reply.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/catalog"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

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
