"""A real SMTP server (aiosmtpd) on loopback for the tests, keeping every message it is given."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SMTPSession

from tests.support.servers import free_port


class Mailbox:
    """A real SMTP server on 127.0.0.1 that keeps every message it is given."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[bytes] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: SMTP, session: SMTPSession, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.received.append(envelope.content)
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(content, policy=email.policy.default)  # type: ignore[misc]
            for content in self.received
        ]

    def link(self, prefix: str) -> str:
        """The path of the one link with this prefix in the last mail."""
        body = self.messages[-1].get_body(("plain",))
        assert body is not None
        found = re.findall(
            r"http://testserver(" + re.escape(prefix) + r"[\w-]+)", body.get_content()
        )
        assert len(found) == 1, body.get_content()
        return found[0]
