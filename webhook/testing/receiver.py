"""A real HTTP receiver on 127.0.0.1 for webhook deliveries: scripted replies, every request
recorded, each signature verified independently of the app's signing code.

    receiver = Receiver()            # or the `receiver` fixture (webhook.testing.fixtures)
    receiver.secret = webhook.secret # verify signatures
    receiver.script(Reply(500), Reply(200))
    ...
    [first, second] = receiver.wait_for(2)
"""

import base64
import hashlib
import hmac
import time

from core.testing.http_server import Received, Reply, ScriptedServer

__all__ = ["Received", "Receiver", "Reply", "independent_signature_check"]


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


class Receiver(ScriptedServer):
    """The scripted server (core.testing.http_server) at a webhook-like path, verifying each
    request's signature when `secret` is set."""

    path = "/hooks/catalog"

    def __init__(self):
        self.secret: str | None = None
        super().__init__()

    def on_request(self, record: Received) -> None:
        if self.secret is not None:
            record.signature_valid = independent_signature_check(
                self.secret, record.headers, record.body
            )
