"""An outbox row becomes a message; a transport hands it to SMTP or to a folder of .eml files.

A transport's `send` either returns (the message was accepted), raises TransportUnavailable
(nothing can be sent right now: the server is unreachable or dropped the connection), or raises
another exception (this message was refused; `is_permanent` tells whether retrying can help).
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any, Protocol

from orders.settings import Settings

# Refusals of one message: the connection is fine and the next message may well go through.
REFUSALS = (
    smtplib.SMTPResponseException,
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPNotSupportedError,
)


class TransportUnavailable(Exception):
    """No message can be sent right now (server unreachable, connection lost, not configured)."""


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...

    def close(self) -> None: ...


def message_id(outbox_id: int, sender: str) -> str:
    """Stable per outbox row, so a receiver can recognise a redelivered message."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return f"<outbox-{outbox_id}@{domain}>"


def build_message(row: dict[str, Any], sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row["recipient"]
    message["Subject"] = row["subject"]
    message["Date"] = format_datetime(row["created_at"])
    message["Message-ID"] = message_id(row["outbox_id"], sender)
    message.set_content(row["body"])
    return message


def is_permanent(exc: BaseException) -> bool:
    """A 5xx refusal will be refused again: retrying it only delays the failure report."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500


class SmtpTransport:
    """One SMTP connection, opened at the first message and reused for the following ones."""

    def __init__(self, settings: Settings):
        self.settings, self._smtp = settings, None
        self.destination = f"{settings.smtp_host}:{settings.smtp_port}"  # its circuit breaker

    def send(self, message: EmailMessage) -> None:
        smtp = self._smtp or self._connect()
        try:
            smtp.send_message(message)
        except REFUSALS:
            raise
        except OSError as exc:  # mid-conversation: whether it arrived is unknown, so retry
            self.close()
            raise TransportUnavailable(f"SMTP connection lost: {exc!r}") from exc

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds)
        except OSError as exc:
            where = f"{s.smtp_host}:{s.smtp_port}"
            raise TransportUnavailable(f"cannot connect to {where}: {exc!r}") from exc
        try:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password or "")
        except OSError as exc:  # TLS or login refused: no message can go out either
            smtp.close()
            raise TransportUnavailable(f"SMTP session setup failed: {exc!r}") from exc
        self._smtp = smtp
        return smtp

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError):  # saying goodbye to a broken connection
                self._smtp.quit()
            self._smtp.close()
            self._smtp = None


class DirectoryTransport:
    """Development without SMTP: each message becomes outbox-<id>.eml in a folder."""

    def __init__(self, folder: Path):
        self.folder = folder

    def send(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = message["Message-ID"].strip("<>").partition("@")[0] + ".eml"
        partial = self.folder / f".{name}.partial"
        partial.write_bytes(bytes(message))
        partial.replace(self.folder / name)  # a reader never sees half a file

    def close(self) -> None:
        pass


class NoTransport:
    """Production without SMTP_HOST: every attempt fails visibly; the mail waits in the outbox."""

    def send(self, message: EmailMessage) -> None:
        raise TransportUnavailable("SMTP_HOST is not set: mail waits in the outbox until it is")

    def close(self) -> None:
        pass


def transport_for(settings: Settings) -> Transport:
    if settings.smtp_host:
        return SmtpTransport(settings)
    if settings.env in ("dev", "test"):
        return DirectoryTransport(settings.mail_dir)
    return NoTransport()
