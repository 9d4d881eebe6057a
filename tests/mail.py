"""A real SMTP server on loopback (aiosmtpd) that records what it accepted, and test helpers
for the asynchronous mail code (digests, delivery) that the worker runs."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import time
from dataclasses import dataclass

import psycopg
from aiosmtpd.controller import Controller

from orders.mail.outbox import Delivery, Policy, deliver_due
from orders.mail.transport import transport_for
from orders.settings import Settings


@dataclass
class Received:
    recipients: list[str]
    message: email.message.EmailMessage

    @property
    def subject(self) -> str:
        return self.message["Subject"]

    @property
    def body(self) -> str:
        return self.message.get_content()


class Recorder:
    """aiosmtpd handler: keeps every accepted message; refuses recipients listed in `refuse`."""

    def __init__(self):
        self.received: list[Received] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append(Received(list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class MailServer:
    """An SMTP server on 127.0.0.1 and a fixed free port; it can be stopped and started again."""

    def __init__(self):
        self.recorder, self.controller = Recorder(), None
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]

    @property
    def received(self) -> list[Received]:
        return self.recorder.received

    def start(self) -> None:
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def env(self) -> dict[str, str]:
        """Settings that point the service at this server."""
        return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(self.port), "SMTP_STARTTLS": "false"}

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.received


def run_on_connection(database_url: str, fn, *args, **kwargs):
    """Run the async `fn(conn, ...)` the worker would run, on a connection of our own."""

    async def main():
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            return await fn(conn, *args, **kwargs)

    return asyncio.run(main())


def deliver(database_url: str, settings: Settings, clock=None) -> Delivery:
    """One run of the send_outbox task's work, with these settings (and this clock)."""
    extra = {"clock": clock} if clock else {}
    return run_on_connection(
        database_url, deliver_due, transport_for(settings), Policy.from_settings(settings), **extra
    )
