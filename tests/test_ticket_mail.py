"""The attendee's mail, sent to a real SMTP server (aiosmtpd on loopback): the confirmation
arrives once, its link opens the attendee's own page and its QR code scans as the admission URL;
the link can be mailed again, to the registered address only; and a mail server that is down or
missing, or a mail that cannot be built, never costs anyone their ticket or stalls the queue."""

from __future__ import annotations

import email
import email.policy
import functools
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage

import anyio
import httpx2 as httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SMTPSession
from sqlmodel import col, select
from starlette.testclient import TestClient

from confapp import outbox
from confapp.app import create_app
from confapp.db import Database
from confapp.models import Conference, OutboxMail
from confapp.outbox import MailStatus, mail_status, queue_mail, send_due_mail
from confapp.programme.conference_file import LoadReport
from confapp.settings import Settings
from confapp.tickets.keys import accepted_public_keys, retire_signing_key, rotate_signing_key
from confapp.times import utcnow
from tests.support import DEMO
from tests.support.qr import read_qr_codes
from tests.support.registrations import register, registration_id
from tests.support.servers import free_port

NAME = "Lucy Parsons"
EMAIL = "lucy.parsons@example.org"


class AddressedMailbox:
    """An aiosmtpd handler that keeps every message it is given with its envelope's recipients
    (tests.support.mail.Mailbox keeps the messages only, on a server that runs throughout)."""

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
        self.mailbox = AddressedMailbox()
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


def status_of(db: Database, ticket: dict) -> MailStatus:
    status = mail_status(db, registration_id(db, ticket))
    assert status is not None
    return status


def outbox_rows(db: Database) -> list[OutboxMail]:
    with db.read() as session:
        return list(session.exec(select(OutboxMail).order_by(col(OutboxMail.id))))


def send_due(db: Database, settings: Settings, now: datetime) -> int:
    return anyio.run(functools.partial(send_due_mail, db, settings, now=now))


def mail_status_on_page(client: TestClient, ticket: dict) -> str:
    page = client.get(ticket["manage_url"])
    assert page.status_code == 200
    marker = '<dd class="mail-status no-print">'
    start = page.text.index(marker) + len(marker)
    return " ".join(page.text[start : page.text.index("</dd>", start)].split())


def qr_texts(png: bytes) -> list[str]:
    return read_qr_codes(png)


MANAGE_LINK = re.compile(r"http://testserver/my-ticket/[A-Za-z0-9_-]{43}")


def manage_link_in(message: EmailMessage) -> str:
    """The management link the mail carries, the same in its text and its HTML."""
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    [link] = MANAGE_LINK.findall(text.get_content())
    assert MANAGE_LINK.findall(html.get_content()) == [link]
    return link


def assert_is_the_ticket_mail(message: EmailMessage, ticket: dict, address: str) -> str:
    """Check the mail; returns the management link it holds."""
    assert message["To"] == address
    assert "Socialism 2027" in message["Subject"]
    link = manage_link_in(message)
    html = message.get_body(("html",))
    assert html is not None
    [qr] = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert qr.get_content_disposition() == "inline"
    assert f'src="cid:{qr["Content-ID"].strip("<>")}"' in html.get_content()
    # The QR code holds the admission URL, never the management link.
    assert qr_texts(qr.get_content()) == [ticket["url"]] != [link]
    return link


def send_link_from_the_admission_page(client: TestClient, ticket: dict) -> httpx.Response:
    page = client.get(ticket["url"])
    assert page.status_code == 200
    assert "E-mail me the link to my ticket" in page.text
    action = re.search(r'<form method="post" action="([^"]+/send-link)"', page.text)
    assert action is not None
    return client.post(action.group(1), follow_redirects=False)


# ---- the stories ---------------------------------------------------------------------------


def test_registering_mails_the_ticket_with_a_qr_code_that_scans(
    app_client_for: ClientFor, settings: Settings, mail_server: MailServer
) -> None:
    client = app_client_for(smtp_settings(settings, mail_server))
    ticket = register(client, NAME, EMAIL)

    assert mail_server.mailbox.recipients == [EMAIL]
    [message] = mail_server.mailbox.messages
    assert_is_the_ticket_mail(message, ticket, EMAIL)
    assert mail_status_on_page(client, ticket) == "Sent"


def test_the_confirmation_mails_link_opens_the_ticket_page_and_each_mail_has_its_own(
    app_client_for: ClientFor, settings: Settings, db: Database, mail_server: MailServer
) -> None:
    client = app_client_for(smtp_settings(settings, mail_server))
    ticket = register(client, NAME, EMAIL)
    [confirmation] = mail_server.mailbox.messages
    first = assert_is_the_ticket_mail(confirmation, ticket, EMAIL)

    # The link in the mail is the attendee's own page: their name, the QR code, cancelling.
    page = client.get(first)
    assert page.status_code == 200
    assert NAME in page.text
    token = ticket["url"].rsplit("/", 1)[1]
    assert f'src="/tickets/{token}/qr.svg"' in page.text
    assert f"{first.removeprefix('http://testserver')}/cancel" in page.text
    # It is not the link the registration answered with: every mail gets a secret of its own.
    assert first != ticket["manage_url"]

    # A second mail (the link sent again) holds a second, different link; all of them work.
    assert send_link_from_the_admission_page(client, ticket).status_code == 303
    assert mail_server.mailbox.recipients == [EMAIL, EMAIL]
    again = mail_server.mailbox.messages[1]
    assert again["Subject"] == "Your ticket link for Socialism 2027"
    second = assert_is_the_ticket_mail(again, ticket, EMAIL)
    assert second not in (first, ticket["manage_url"])
    for link in (first, second, ticket["manage_url"]):
        opened = client.get(link)
        assert opened.status_code == 200 and NAME in opened.text, link


def test_asking_for_the_link_again_mails_only_the_registered_address(
    app_client_for: ClientFor, settings: Settings, db: Database, mail_server: MailServer
) -> None:
    client = app_client_for(smtp_settings(settings, mail_server))
    ticket = register(client, NAME, EMAIL)
    mail_server.mailbox.received.clear()

    response = send_link_from_the_admission_page(client, ticket)

    assert response.status_code == 303
    assert response.headers["location"] == f"/tickets/{ticket['url'].rsplit('/', 1)[1]}?sent=1"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    link_rows = [row for row in outbox_rows(db) if row.kind == "manage_link"]
    assert [(row.registration_id, row.status) for row in link_rows] == [
        (registration_id(db, ticket), "sent")
    ]
    assert mail_server.mailbox.recipients == [EMAIL]
    [message] = mail_server.mailbox.messages
    assert message["To"] == EMAIL
    manage_link_in(message)
    # Whoever pressed the button sees that a mail may be on its way, and nothing personal.
    sent = client.get(response.headers["location"])
    assert sent.status_code == 200
    assert "is on its way" in sent.text
    assert NAME not in sent.text and EMAIL not in sent.text and "/my-ticket/" not in sent.text


def test_asking_for_the_link_of_a_cancelled_or_erased_ticket_sends_nothing_and_says_the_same(
    app_client_for: ClientFor, settings: Settings, db: Database, mail_server: MailServer
) -> None:
    client = app_client_for(smtp_settings(settings, mail_server))
    active = register(client, NAME, EMAIL)
    cancelled = register(client, name="Emma Goldman", email="emma@example.org")
    erased = register(client, name="Louise Michel", email="louise@example.org")
    assert client.post(f"{cancelled['manage_url']}/cancel", data={}).status_code == 200
    client.post(f"{erased['manage_url']}/cancel", data={"erase": "yes"})
    mail_server.mailbox.received.clear()
    before = outbox_rows(db)

    answers = {}
    for label, ticket in (("cancelled", cancelled), ("erased", erased), ("active", active)):
        token = ticket["url"].rsplit("/", 1)[1]
        response = client.post(f"/tickets/{token}/send-link", follow_redirects=False)
        answers[label] = (
            response.status_code,
            response.headers["location"].replace(token, "TOKEN"),
            response.content,
            sorted((k, v) for k, v in response.headers.items() if k != "location"),
        )
        if label != "active":
            assert len(outbox_rows(db)) == len(before), label
            assert mail_server.mailbox.received == [], label

    # Whether or not a mail went out, the answer is the same: it tells nobody anything.
    assert answers["cancelled"] == answers["erased"] == answers["active"]
    assert answers["active"][:2] == (303, "/tickets/TOKEN?sent=1")
    assert mail_server.mailbox.recipients == [EMAIL]
    assert len(outbox_rows(db)) == len(before) + 1


def test_a_mail_server_that_is_down_delays_the_mail_but_loses_nothing(
    app_client_for: ClientFor, settings: Settings, db: Database, mail_server_down: MailServer
) -> None:
    mail_settings = smtp_settings(settings, mail_server_down)
    client = app_client_for(mail_settings)

    started = time.monotonic()
    ticket = register(client, NAME, EMAIL)
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
        register(client, name=f"Comrade {n}", email=address)
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
    ticket = register(client, NAME, EMAIL)

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
    ticket = register(client, NAME, EMAIL)
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
    voided = register(client, name="Early Bird", email="early@example.org")
    voided_id = registration_id(db, voided)
    with db.read() as session:
        [old_key_id] = accepted_public_keys(session)
    rotate_signing_key(db)
    assert retire_signing_key(db, old_key_id)
    register(client, NAME, EMAIL)

    assert (
        send_due(db, smtp_settings(settings, mail_server), now=utcnow() + timedelta(hours=1)) == 1
    )
    assert mail_server.mailbox.recipients == [EMAIL]
    # The voided ticket's mail is given up on, with the reason, rather than retried for ever.
    voided_status = mail_status(db, voided_id)
    assert voided_status is not None and voided_status.state == "failed"
    assert "signing key was retired" in voided_status.last_error


# ---- mail that cannot be built or sent ------------------------------------------------------


def test_a_conference_name_with_a_line_break_still_gets_its_mail_with_a_one_line_subject(
    app_client_for: ClientFor, settings: Settings, db: Database, mail_server: MailServer
) -> None:
    with db.transaction() as session:
        conference = session.exec(select(Conference).where(Conference.slug == DEMO)).one()
        conference.name = "Socialism\r\n2027"
    client = app_client_for(smtp_settings(settings, mail_server))
    ticket = register(client, NAME, EMAIL)

    assert mail_server.mailbox.recipients == [EMAIL]
    [(_, raw)] = mail_server.mailbox.received
    [message] = mail_server.mailbox.messages
    assert message["Subject"] == "Your ticket for Socialism 2027"
    headers = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert b"Subject: Your ticket for Socialism 2027" in headers
    # The line break did not end the header early, leaving a stray line behind it.
    assert not any(header.strip() == b"2027" for header in headers)
    status = status_of(db, ticket)
    assert (status.state, status.attempts) == ("sent", 1)
    assert mail_status_on_page(client, ticket) == "Sent"


def test_a_mail_whose_builder_fails_ends_as_failed_with_the_reason(
    app_client_for: ClientFor,
    settings: Settings,
    db: Database,
    mail_server: MailServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken_builder(*_: object) -> EmailMessage:
        raise KeyError("a field the template needs")

    monkeypatch.setitem(outbox._builders, "ticket", broken_builder)
    mail_settings = smtp_settings(settings, mail_server)
    client = app_client_for(mail_settings)
    ticket = register(client, NAME, EMAIL)

    status = status_of(db, ticket)
    assert (status.state, status.attempts) == ("failed", 1)
    assert "cannot be built" in status.last_error and "KeyError" in status.last_error
    [row] = outbox_rows(db)
    assert row.status == "failed" and row.claimed_until is None
    # Given up on, not "sending now" for ever: later rounds leave it alone.
    assert send_due(db, mail_settings, now=utcnow() + timedelta(days=1)) == 0
    assert mail_server.mailbox.received == []
    assert mail_status_on_page(client, ticket).startswith("Could not be sent after 1 attempt")


def test_an_unexpected_error_while_sending_is_one_attempt_and_the_mail_is_tried_again(
    app_client_for: ClientFor,
    settings: Settings,
    db: Database,
    mail_server: MailServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def crashing_send(*_: object) -> None:
        raise RuntimeError("something nobody foresaw")

    monkeypatch.setattr(outbox, "_smtp_send", crashing_send)
    mail_settings = smtp_settings(settings, mail_server)
    client = app_client_for(mail_settings)
    ticket = register(client, NAME, EMAIL)

    [row] = outbox_rows(db)
    assert (row.status, row.attempts, row.claimed_until) == ("pending", 1, None)
    assert "RuntimeError" in row.last_error
    assert row.next_attempt_at > utcnow()
    status = status_of(db, ticket)
    assert (status.state, status.attempts) == ("queued", 1)

    monkeypatch.undo()
    assert send_due(db, mail_settings, now=utcnow()) == 0  # not due yet
    assert send_due(db, mail_settings, now=row.next_attempt_at + timedelta(seconds=1)) == 1
    assert mail_server.mailbox.recipients == [EMAIL]
    [row] = outbox_rows(db)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, "")


def test_the_ticket_page_shows_the_ticket_mails_state_not_a_later_mails(
    app_client_for: ClientFor, settings: Settings, db: Database, mail_server: MailServer
) -> None:
    client = app_client_for(smtp_settings(settings, mail_server))
    ticket = register(client, NAME, EMAIL)
    assert mail_status_on_page(client, ticket) == "Sent"
    # A programme-change mail queued since, not yet sent, is not the confirmation e-mail.
    with db.transaction() as session:
        queue_mail(session, "programme_changes", registration_id(db, ticket))
    assert mail_status_on_page(client, ticket) == "Sent"
