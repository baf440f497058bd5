"""A real SMTP server on 127.0.0.1 (aiosmtpd) that stores what it receives and can be told
to refuse: the next N transactions answer a 4xx or 5xx at RCPT, DATA or MAIL.

    with FakeSMTPServer() as smtp:            # smtp.port, smtp.url ("smtp://127.0.0.1:PORT")
        smtp.fail_next(451, "4.7.1 Greylisted, try again later")   # one temporary refusal
        smtp.fail_next(550, "5.1.1 No such user", stage="RCPT", times=3)
        ...
        smtp.messages[0].message["Message-ID"], smtp.messages[0].rcpt_tos

The replies are real SMTP replies on the wire, so the client side (smtplib, Django's SMTP
backend) sees exactly what a refusing server sends.
"""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller

from devtools.stack import free_port

STAGES = ("MAIL", "RCPT", "DATA")


@dataclass
class ReceivedMessage:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    message: email.message.EmailMessage = field(repr=False)
    at: float


class _Handler:
    def __init__(self, server: FakeSMTPServer):
        self.server = server

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802 - aiosmtpd's hook names
        refusal = self.server._take("MAIL")
        if refusal:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's hook names
        refusal = self.server._take("RCPT")
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook names
        refusal = self.server._take("DATA")
        if refusal:
            return refusal
        content = envelope.original_content or envelope.content
        self.server._store(
            ReceivedMessage(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                content=content,
                message=email.message_from_bytes(content, policy=email.policy.default),
                at=time.monotonic(),
            )
        )
        return "250 2.0.0 Message accepted for delivery"


class FakeSMTPServer:
    """aiosmtpd in a thread on 127.0.0.1 (a free port unless one is given)."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.messages: list[ReceivedMessage] = []
        self.refused: list[tuple[str, str]] = []  # (stage, reply) of every refusal sent
        self._failures: dict[str, deque[str]] = {stage: deque() for stage in STAGES}
        self._lock = threading.Lock()
        self._controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port, ready_timeout=10
        )

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> FakeSMTPServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> FakeSMTPServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def fail_next(self, code: int, text: str, *, stage: str = "RCPT", times: int = 1) -> None:
        """Answer `code text` to the next `times` commands of `stage` (MAIL, RCPT, DATA)."""
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}")
        if not 400 <= code < 600:
            raise ValueError("a refusal is a 4xx or 5xx code")
        with self._lock:
            self._failures[stage].extend([f"{code} {text}"] * times)

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()
            self.refused.clear()
            for queue in self._failures.values():
                queue.clear()

    def wait_for_messages(self, count: int, timeout: float = 15.0) -> list[ReceivedMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} messages, got {len(self.messages)}")

    def _take(self, stage: str) -> str | None:
        with self._lock:
            queue = self._failures[stage]
            if not queue:
                return None
            reply = queue.popleft()
            self.refused.append((stage, reply))
            return reply

    def _store(self, message: ReceivedMessage) -> None:
        with self._lock:
            self.messages.append(message)
