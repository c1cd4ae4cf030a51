"""The confirmation mail, sent to a real SMTP server (aiosmtpd on loopback): it arrives once,
its QR code scans, and a mail server that is down or missing never costs anyone their ticket."""

from __future__ import annotations

import email
import email.policy
import functools
import io
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage

import anyio
import pytest
import zxingcpp
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SMTPSession
from PIL import Image
from sqlmodel import select
from starlette.testclient import TestClient

from confapp.app import create_app
from confapp.db import Database
from confapp.models import OutboxMail
from confapp.outbox import MailStatus, mail_status, send_due_mail
from confapp.programme.conference_file import LoadReport
from confapp.registration.service import find_registration
from confapp.settings import Settings
from confapp.tickets.keys import accepted_public_keys, retire_signing_key, rotate_signing_key
from confapp.tickets.tokens import verify_ticket_token
from confapp.times import utcnow
from tests.conftest import DEMO, free_port

NAME = "Lucy Parsons"
EMAIL = "lucy.parsons@example.org"


class Mailbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: SMTP, session: SMTPSession, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.received.append((list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(content, policy=email.policy.default)
            for _, content in self.received
        ]

    @property
    def recipients(self) -> list[str]:
        return [address for addresses, _ in self.received for address in addresses]


class MailServer:
    """A real SMTP server on 127.0.0.1 that a test can start and stop."""

    def __init__(self) -> None:
        self.port = free_port()
        self.mailbox = Mailbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def mail_server_down() -> Iterator[MailServer]:
    """A port where the mail server will run, but nothing listens yet."""
    server = MailServer()
    yield server
    server.stop()


@pytest.fixture
def mail_server(mail_server_down: MailServer) -> MailServer:
    mail_server_down.start()
    return mail_server_down


def smtp_settings(settings: Settings, server: MailServer) -> Settings:
    return settings.with_overrides(smtp_host="127.0.0.1", smtp_port=server.port)


ClientFor = Callable[[Settings], TestClient]


@pytest.fixture
def app_client_for(demo: LoadReport) -> Iterator[ClientFor]:
    """A TestClient on the demo conference with the given settings (background tasks run)."""
    clients: list[TestClient] = []

    def open_client(settings: Settings) -> TestClient:
        client = TestClient(create_app(settings), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.__exit__(None, None, None)


def register(client: TestClient, name: str = NAME, address: str = EMAIL) -> dict:
    body = {"name": name, "email": address, "ticket_type": "waged"}
    response = client.post(f"/api/{DEMO}/registrations", json=body)
    assert response.status_code == 201, response.text
    return response.json()["ticket"]


def registration_id(db: Database, ticket: dict) -> int:
    token = ticket["url"].rsplit("/", 1)[1]
    with db.read() as session:
        code = verify_ticket_token(token, accepted_public_keys(session)).ticket_code
        registration = find_registration(session, code)
    assert registration is not None and registration.id is not None
    return registration.id


def status_of(db: Database, ticket: dict) -> MailStatus:
    status = mail_status(db, registration_id(db, ticket))
    assert status is not None
    return status


def send_due(db: Database, settings: Settings, now: datetime) -> int:
    return anyio.run(functools.partial(send_due_mail, db, settings, now=now))


def mail_status_on_page(client: TestClient, ticket: dict) -> str:
    page = client.get(ticket["url"])
    assert page.status_code == 200
    marker = '<dd class="mail-status no-print">'
    start = page.text.index(marker) + len(marker)
    return " ".join(page.text[start : page.text.index("</dd>", start)].split())


def qr_texts(png: bytes) -> list[str]:
    return [code.text for code in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def assert_is_the_ticket_mail(message: EmailMessage, ticket: dict, address: str) -> None:
    assert message["To"] == address
    assert "Socialism 2027" in message["Subject"]
    text = message.get_body(("plain",))
    assert text is not None and ticket["url"] in text.get_content()
    html = message.get_body(("html",))
    assert html is not None
    [qr] = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert qr.get_content_disposition() == "inline"
    assert f'src="cid:{qr["Content-ID"].strip("<>")}"' in html.get_content()
    assert qr_texts(qr.get_content()) == [ticket["url"]]


# ---- the stories ---------------------------------------------------------------------------


def test_registering_mails_the_ticket_with_a_qr_code_that_scans(
    app_client_for: ClientFor, settings: Settings, mail_server: MailServer
) -> None:
    client = app_client_for(smtp_settings(settings, mail_server))
    ticket = register(client)

    assert mail_server.mailbox.recipients == [EMAIL]
    [message] = mail_server.mailbox.messages
    assert_is_the_ticket_mail(message, ticket, EMAIL)
    assert mail_status_on_page(client, ticket) == "Sent"


def test_a_mail_server_that_is_down_delays_the_mail_but_loses_nothing(
    app_client_for: ClientFor, settings: Settings, db: Database, mail_server_down: MailServer
) -> None:
    mail_settings = smtp_settings(settings, mail_server_down)
    client = app_client_for(mail_settings)

    started = time.monotonic()
    ticket = register(client)
    assert time.monotonic() - started < 5

    status = status_of(db, ticket)
    assert (status.state, status.attempts) == ("queued", 1)
    assert "SMTPConnectError" in status.last_error
    assert str(mail_server_down.port) in status.last_error
    assert status.next_attempt_at is not None and status.next_attempt_at > utcnow()
    on_page = mail_status_on_page(client, ticket)
    assert on_page.startswith("Not sent yet: 1 attempt failed (SMTPConnectError)")

    mail_server_down.start()
    # Not due yet: the retry waits its turn rather than hammering the server.
    assert send_due(db, mail_settings, now=utcnow()) == 0
    assert mail_server_down.mailbox.received == []

    assert send_due(db, mail_settings, now=status.next_attempt_at + timedelta(seconds=1)) == 1
    [message] = mail_server_down.mailbox.messages
    assert_is_the_ticket_mail(message, ticket, EMAIL)
    status = status_of(db, ticket)
    assert (status.state, status.attempts, status.last_error) == ("sent", 2, "")
    assert mail_status_on_page(client, ticket) == "Sent"

    # The next round of the sender finds nothing more to do.
    assert send_due(db, mail_settings, now=utcnow() + timedelta(days=1)) == 0
    assert len(mail_server_down.mailbox.received) == 1


def test_two_senders_at_once_deliver_each_mail_exactly_once(
    app_client_for: ClientFor, settings: Settings, db: Database, mail_server_down: MailServer
) -> None:
    mail_settings = smtp_settings(settings, mail_server_down)
    client = app_client_for(mail_settings)
    addresses = [f"comrade{n}@example.org" for n in range(4)]
    for n, address in enumerate(addresses):
        register(client, name=f"Comrade {n}", address=address)
    mail_server_down.start()

    later = utcnow() + timedelta(hours=1)
    ready = threading.Barrier(3)
    sent: list[int] = []

    def sender() -> None:
        ready.wait()
        sent.append(send_due(db, mail_settings, now=later))

    senders = [threading.Thread(target=sender) for _ in range(3)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join(timeout=30)

    assert len(sent) == 3  # every sender finished without an error
    assert sum(sent) == len(addresses)
    assert sorted(mail_server_down.mailbox.recipients) == sorted(addresses)
    with db.read() as session:
        rows = session.exec(select(OutboxMail)).all()
    assert sorted((row.status, row.attempts) for row in rows) == [("sent", 2)] * len(addresses)


def test_without_a_mail_server_configured_the_mail_waits_with_a_clear_reason(
    client: TestClient, settings: Settings, db: Database
) -> None:
    assert settings.smtp_host == ""
    ticket = register(client)

    status = status_of(db, ticket)
    assert status.state == "queued"
    assert status.sent_at is None
    assert "no mail server is configured (CONFAPP_SMTP_HOST)" in status.last_error
    assert "no mail server is configured" in mail_status_on_page(client, ticket)
    # The registration itself is whole: the ticket page opened above, and its QR code is there.
    assert client.get(ticket["qr_png_url"]).status_code == 200


def test_mail_queued_for_a_day_without_a_mail_server_goes_out_once_one_is_configured(
    client: TestClient, settings: Settings, db: Database, mail_server: MailServer
) -> None:
    ticket = register(client)
    now = utcnow()
    for _ in range(24):  # a day of housekeeping rounds, each when the mail is due
        status = status_of(db, ticket)
        now = max(now, status.next_attempt_at or now) + timedelta(seconds=1)
        assert send_due(db, settings, now=now) == 0
    assert status_of(db, ticket).state == "queued"

    assert send_due(db, smtp_settings(settings, mail_server), now=now + timedelta(hours=7)) == 1
    assert mail_server.mailbox.recipients == [EMAIL]


def test_a_mail_for_a_ticket_whose_key_was_retired_does_not_hold_up_other_mail(
    client: TestClient, settings: Settings, db: Database, mail_server: MailServer
) -> None:
    voided = register(client, name="Early Bird", address="early@example.org")
    voided_id = registration_id(db, voided)
    with db.read() as session:
        [old_key_id] = accepted_public_keys(session)
    rotate_signing_key(db)
    assert retire_signing_key(db, old_key_id)
    register(client)

    assert (
        send_due(db, smtp_settings(settings, mail_server), now=utcnow() + timedelta(hours=1)) == 1
    )
    assert mail_server.mailbox.recipients == [EMAIL]
    # The voided ticket's mail is given up on, with the reason, rather than retried for ever.
    voided_status = mail_status(db, voided_id)
    assert voided_status is not None and voided_status.state == "failed"
    assert "signing key was retired" in voided_status.last_error
