"""Outbox over SMTP (SMTP_URL=smtp://user:pass@host:port, smtps:// for implicit TLS)."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from urllib.parse import unquote, urlparse

from ports.services import OutgoingMessage


class SmtpOutbox:
    def __init__(self, url: str, *, sender: str = "no-reply@fleetgate.local") -> None:
        parts = urlparse(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("SMTP_URL must start with smtp:// or smtps://")
        self._tls = parts.scheme == "smtps"
        self._host, self._port = parts.hostname or "localhost", parts.port or (
            465 if self._tls else 25)
        self._user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._sender = sender

    def _deliver(self, message: OutgoingMessage) -> None:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self._sender, message.to, message.subject
        mail.set_content(message.body)
        smtp_cls = smtplib.SMTP_SSL if self._tls else smtplib.SMTP
        with smtp_cls(self._host, self._port, timeout=10) as client:
            if self._user and self._password:
                client.login(self._user, self._password)
            client.send_message(mail)

    async def send(self, message: OutgoingMessage) -> None:
        await asyncio.to_thread(self._deliver, message)
