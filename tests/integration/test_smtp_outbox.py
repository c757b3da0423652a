"""The SMTP outbox delivers a verification code to a real (local) SMTP server."""

from __future__ import annotations

import socket
from email import message_from_bytes

from aiosmtpd.controller import Controller

from adapters.mail.smtp import SmtpOutbox
from ports.services import OutgoingMessage


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        self.messages.append(envelope.content)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_smtp_outbox_sends_the_message() -> None:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        await SmtpOutbox(f"smtp://127.0.0.1:{port}").send(OutgoingMessage(
            org_id="o", to="ann@example.com", subject="Your code", body="code is 123456",
            kind="sign_up"))
    finally:
        controller.stop()
    mail = message_from_bytes(inbox.messages[0])
    assert mail["To"] == "ann@example.com" and "123456" in mail.get_payload()
